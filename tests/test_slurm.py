"""On a real SLURM cluster: an experiment sweep through ``hydra/launcher=submitit_slurm``, a job
requeued mid-fit, and signals that stop a job mid-fit. Marked ``slurm``: ``make test`` skips them,
``make test-slurm`` starts a one-node cluster (scripts/slurm-cluster.sh) and runs them; without
a cluster they skip.

Every sweep is ``experiment=lane_narrow`` shrunk to plain BC on one or two seeds, launched as a
user would (``bcx`` in a subprocess) and watched from outside with ``squeue`` / ``scontrol``.
The 2-job sweep is also the reference: a stopped job, once resumed, must end with the metrics of
its never-stopped twin, bit for bit. Without slurmdbd there is no ``sacct``: submitit warns
("Bypassing sacct error") and learns that a job ended only from its result file, so a job that
dies without one leaves the launcher waiting; the tests stop that launcher themselves.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bcx.results.report import main as bcx_report

pytestmark = pytest.mark.slurm

SEED = 3000  # the reference job's seed, and the one every stopped job runs
EXPERIMENT = [
    "experiment=lane_narrow",
    "hydra.sweeper.params.mitigation=none",
    "data.episodes=3",
    "trainer.max_steps=1500",  # about 15 s of training on one core: time to stop it mid-fit
    "trainer.val_check_interval=100",
    "trainer.log_every_n_steps=25",
    "rollout.episodes=2",
    "rollout.num_envs=2",
    "checkpoint.every_n_steps=100",
    "trainer.enable_progress_bar=false",
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.cpus_per_task=1",
]
# Job states after which a job no longer runs (scontrol's JobState), unless it is requeued.
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
WAIT_S = 300


@pytest.fixture(scope="module")
def slurm_conf() -> str:
    """The running cluster's slurm.conf (SLURM_CONF, else the one scripts/slurm-cluster.sh
    writes); skips the module when no node answers."""
    folder = Path(os.environ.get("BCX_SLURM_DIR", "/tmp/bcx-slurm"))
    conf = os.environ.get("SLURM_CONF") or str(folder / "slurm.conf")
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"],
            env={**os.environ, "SLURM_CONF": conf},
            capture_output=True,
            text=True,
            timeout=15,
        ).stdout.split()
    except FileNotFoundError:
        pytest.skip("no SLURM client (sinfo); `make test-slurm` installs and starts a cluster")
    except subprocess.TimeoutExpired:
        states = []  # no controller answers
    if not {"idle", "mixed", "allocated"} & set(states):
        pytest.skip(f"no SLURM node is up (SLURM_CONF={conf}); `make test-slurm` starts one")
    return conf


@dataclass
class Sweep:
    """One ``bcx`` sweep submitted to SLURM, its launcher running in a subprocess."""

    folder: Path  # where the sweep runs from; its results are in folder / "sweep"
    args: list[str]
    name: str  # the SLURM job name, unique to this sweep
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def dir(self) -> Path:
        return self.folder / "sweep"

    @property
    def log(self) -> Path:
        return self.folder / "launcher.log"

    def start(self) -> Sweep:
        """Run the sweep's command (again, for a rerun), its output appended to ``log``."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bcx", *self.args],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def finish(self) -> int:
        """The launcher's exit status once every job has ended."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not end in {WAIT_S} s:\n{self.tail()}")

    def stop(self) -> None:
        """End the launcher if it still runs, and cancel the sweep's jobs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        subprocess.run(["scancel", "--name", self.name], env=self.env, check=False)

    def tail(self) -> str:
        lines = [x for x in self.log.read_text().splitlines() if "sacct" not in x]
        return "\n".join(lines[-40:])

    def wait_for(
        self, condition: Callable[[], object], what: str, launcher_may_end: bool = False
    ) -> None:
        """Poll ``condition`` until it holds; fail if time runs out, or if the launcher ends
        first unless ``launcher_may_end``."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            assert self.process is not None
            if self.process.poll() is not None and not launcher_may_end:
                pytest.fail(f"the sweep ended before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} in {WAIT_S} s:\n{self.tail()}")
            time.sleep(0.1)

    def job_id(self) -> str:
        """The id of the sweep's one job (``<id>``; ``<id>_<task>`` in a job array)."""
        ids: list[str] = []

        def listed() -> bool:
            ids[:] = squeue(self.name, self.env)
            return bool(ids)

        self.wait_for(listed, f"job named {self.name} in squeue")
        assert len(ids) == 1, ids
        return ids[0]

    @property
    def job(self) -> Path:
        """The folder of the sweep's first (or only) job."""
        return self.dir / "0"


def squeue(name: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "--name", name, "-o", "%i"], env=env, capture_output=True, text=True
    )
    return out.stdout.split()


def job_logs(sweep: Sweep, job_id: str) -> str:
    """What the job printed (submitit appends every run of a requeued job)."""
    return "".join(p.read_text() for p in sweep.dir.glob(f".submitit/{job_id}/*_log.*"))


def job_info(job_id: str, env: dict[str, str]) -> dict[str, str]:
    """``scontrol show job``'s fields (JobState, ExitCode, Restarts, ...); slurmctld keeps an
    ended job for MinJobAge seconds (600 in scripts/slurm-cluster.sh)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


@pytest.fixture(scope="module")
def launch(slurm_conf: str) -> Iterator[Callable[..., Sweep]]:
    """``launch(folder, cache_dir, seeds, *overrides)``: submit a sweep; all are stopped and
    their jobs cancelled at the end of the module."""
    sweeps: list[Sweep] = []
    env = {
        **os.environ,
        "SLURM_CONF": slurm_conf,  # sbatch hands the launcher's environment to the jobs
        "OMP_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "0",
        "WANDB_MODE": "offline",
    }

    def _launch(folder: Path, cache_dir: Path, seeds: list[int], *overrides: str) -> Sweep:
        name = f"bcx-{uuid.uuid4().hex[:8]}"
        args = [
            *EXPERIMENT,
            f"hydra.sweeper.params.seed='{','.join(map(str, seeds))}'",  # quoted: one value
            f"hydra.launcher.name={name}",
            f"hydra.sweep.dir={folder / 'sweep'}",
            f"data.cache_dir={cache_dir}",
            f"resume_dir={folder / 'resume'}",
            *overrides,
        ]
        sweeps.append(Sweep(folder, args, name, env))
        return sweeps[-1].start()

    yield _launch
    for sweep in sweeps:
        sweep.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir, launch) -> tuple[Sweep, int]:
    """A 2-job sweep (seeds SEED and SEED + 100), run to its end, and the launcher's status."""
    sweep = launch(tmp_path_factory.mktemp("reference"), cache_dir, [SEED, SEED + 100])
    return sweep, sweep.finish()


def finished(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/metrics.json"))]


@pytest.fixture(scope="module")
def reference_metrics(reference) -> dict[str, float]:
    """The final metrics of the seed-SEED job of a sweep no one stopped."""
    sweep, returncode = reference
    assert returncode == 0, sweep.tail()
    (run,) = [r for r in finished(sweep.dir) if r["config"]["seed"] == SEED]
    return run["metrics"]


def logged_steps(job: Path) -> list[int]:
    """The steps in the job's CSV log, which Lightning writes out at every log (every 25 steps
    here: a fit from step 0 logs first at step 24). A resumed fit's log replaces the stopped
    one's and starts where it resumed."""
    try:
        with (job / "logs" / "metrics.csv").open() as f:
            return [int(row["step"]) for row in csv.DictReader(f)]
    except (OSError, ValueError):  # not written yet, or caught mid-write
        return []


def assert_resumed_to(job: Path, reference_metrics: dict[str, float]) -> None:
    """The job's run resumed from a mid-fit checkpoint and ended where the unstopped one did."""
    log = (job / "train.log").read_text()
    resumed_from = (
        "bcx's fit.ckpt"
        if "resuming round 0's fit from" in log
        else "Lightning's SLURM auto-requeue checkpoint (hpc_ckpt_*.ckpt)"
        if list(job.glob("hpc_ckpt_*.ckpt"))
        else "nothing that bcx logs"
    )
    assert min(logged_steps(job)) > 24, f"the run trained from step 0 (resumed {resumed_from})"
    results = json.loads((job / "metrics.json").read_text())
    assert results["run"]["steps"] == 1500
    metrics = results["metrics"]
    differ = {k: (metrics.get(k), v) for k, v in reference_metrics.items() if metrics.get(k) != v}
    assert not differ and metrics.keys() == reference_metrics.keys(), (
        f"resumed from {resumed_from}, it ends unlike the unstopped run: (resumed, unstopped) "
        f"{differ}"
    )


def test_an_experiment_sweep_runs_as_a_slurm_job_array_that_both_reports_list(reference):
    sweep, returncode = reference
    assert returncode == 0, sweep.tail()
    (script,) = sweep.dir.glob(".submitit/*/*_submission.sh")
    assert "#SBATCH --array=0-1%2" in script.read_text()
    tasks = sorted(p.parent.name for p in sweep.dir.glob(".submitit/*_*/*_result.pkl"))
    assert len(tasks) == 2
    for task in tasks:  # SLURM ran both array tasks to a clean end
        info = job_info(task, sweep.env)
        assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), info
    runs = finished(sweep.dir)
    assert sorted(r["config"]["seed"] for r in runs) == [SEED, SEED + 100]
    assert all(r["run"]["steps"] == 1500 for r in runs)
    summary = (sweep.dir / "summary.md").read_text()  # the experiment's report, after both jobs
    assert "| none | 2 |" in summary and "Failed runs" not in summary
    assert bcx_report([str(sweep.dir), "--out", str(sweep.folder / "report"), "--by", "seed"]) == 0
    report = (sweep.folder / "report" / "report.md").read_text()
    assert "# bcx report: 2 runs" in report and "Failed runs" not in report
    assert f"\n| {SEED} | 1 |" in report and f"\n| {SEED + 100} | 1 |" in report


def test_a_job_requeued_mid_fit_resumes_to_the_metrics_of_one_never_requeued(
    tmp_path, cache_dir, launch, reference_metrics
):
    """``scontrol requeue`` (what a preempting cluster does with PreemptMode=REQUEUE): SLURM
    ends the job and runs it again; bcx continues from its mid-fit checkpoint in resume_dir."""
    sweep = launch(tmp_path, cache_dir, [SEED])
    sweep.wait_for(lambda: list((tmp_path / "resume").glob("*/fit.json")), "mid-fit checkpoint")
    job_id = sweep.job_id()
    subprocess.run(["scontrol", "requeue", job_id], env=sweep.env, check=True)
    assert sweep.finish() == 0, sweep.tail()
    assert job_info(job_id, sweep.env)["Restarts"] == "1"
    assert "resuming round 0's fit from" in (sweep.job / "train.log").read_text()
    assert_resumed_to(sweep.job, reference_metrics)


def test_submitit_requeues_a_job_at_its_pre_timeout_signal_and_it_resumes(
    tmp_path, cache_dir, launch, reference_metrics
):
    """submitit's pre-timeout signal is SIGUSR2 (``#SBATCH --signal=USR2@<signal_delay_s>``):
    its handler counts a timeout (timeout_min=10 leaves no guaranteed walltime, so any USR2 is
    one) and, with max_num_timeout=1, requeues the same job, which resumes."""
    sweep = launch(tmp_path, cache_dir, [SEED], "hydra.launcher.max_num_timeout=1")
    sweep.wait_for(lambda: list((tmp_path / "resume").glob("*/fit.json")), "mid-fit checkpoint")
    job_id = sweep.job_id()
    subprocess.run(["scancel", "--signal=USR2", job_id], env=sweep.env, check=True)
    assert sweep.finish() == 0, sweep.tail()
    logs = job_logs(sweep, job_id)
    assert "Caught signal SIGUSR2" in logs and "this job is timed-out" in logs
    assert f"Requeued job {job_id} (0 remaining timeouts)" in logs
    assert job_info(job_id, sweep.env)["Restarts"] == "1"
    assert "resuming round 0's fit from" in (sweep.job / "train.log").read_text()
    assert_resumed_to(sweep.job, reference_metrics)


@pytest.mark.parametrize("name", ["TERM", "USR1"])
def test_a_signal_mid_fit_stops_the_job_and_the_run_resumes(
    tmp_path, cache_dir, launch, reference_metrics, name
):
    """The contract for SIGTERM and SIGUSR1 (``scancel --signal``, what a cluster sends before a
    time limit or a preemption): bcx saves the mid-fit checkpoint and the job either ends
    non-zero (143 for SIGTERM), to be rerun, or is requeued; either way the run resumes to the
    metrics of one never stopped. No periodic checkpoints here: only a save at the signal can
    make the run resume. In a SLURM job SIGUSR1 is Lightning's: its auto-requeue saves
    hpc_ckpt_<n>.ckpt in the run folder and requeues the job, whose SIGTERM then reaches bcx."""
    sweep = launch(tmp_path, cache_dir, [SEED], "checkpoint.every_n_steps=100000")
    sweep.wait_for(lambda: max(logged_steps(sweep.job), default=0) >= 99, "fit past step 99")
    job_id = sweep.job_id()
    subprocess.run(["scancel", f"--signal={name}", job_id], env=sweep.env, check=True)

    def ended_or_requeued() -> bool:
        info = job_info(job_id, sweep.env)
        return info["JobState"] in ENDED or info["Restarts"] != "0"

    sweep.wait_for(ended_or_requeued, f"end or requeue after SIG{name}", launcher_may_end=True)
    info = job_info(job_id, sweep.env)
    if info["Restarts"] == "0":  # stopped: rerunning the same command resumes it
        wrote = (sweep.job / "metrics.json").exists()
        assert info["ExitCode"] != "0:0", (
            f"SIG{name} mid-fit: the job ended {info['JobState']} with exit {info['ExitCode']}, "
            f"{'after writing' if wrote else 'without'} metrics.json"
        )
        if name == "TERM":
            assert info["ExitCode"] == "143:0", info
        said = [x for x in job_logs(sweep, job_id).splitlines() if x.startswith("bcx: ")]
        saved = list((tmp_path / "resume").glob("*/fit.ckpt"))
        assert saved, f"SIG{name} mid-fit saved no checkpoint to resume from; bcx said {said}"
        sweep.stop()  # no sacct here: submitit's launcher would wait for a result forever
        sweep.start()
    assert sweep.finish() == 0, sweep.tail()
    assert_resumed_to(sweep.job, reference_metrics)
