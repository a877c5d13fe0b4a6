"""``make qa``: rerun the QA catalogue's 186 cases and judge each against bcx's contract.

Usage: ``python -m qa.run_catalogue [--only ID ...] [--fast] [--jobs 2] [--out outputs/qa]``.

Every case runs in a folder of its own under a work folder (``--work``, a fresh temporary one by
default), as ``.venv/bin/bcx`` (or ``bcx-report``) would run there, two at a time. First the
runner makes what the cases share, as the catalogue did:

- ``$S``: a finished good run (row C00), whose files are checksummed before and after every case
  that names it;
- the demonstrations ``$B`` collects, copied into each case's folder (the catalogue's cache was
  warm too);
- ``$F``: tiny SB3 models (PPO/SAC on InvertedPendulum, SAC on Reacher, trained for a few dozen
  steps), broken model files, Minari datasets written by ``bcx-export``, and damaged copies.

A case that names ``$S`` runs into it first. bcx now refuses to run into a folder that holds a
finished run; when that refusal is what it printed, the case runs again into a fresh folder and
is judged on that run, so that the refusal does not hide what the row tests.

Each case is judged as ``qa.cases`` describes. Results go to ``<out>/results.md`` (totals in the
catalogue's categories, then one row per case) and ``<out>/results.json`` (with each run's
output). The exit status is 1 when any case breaks the contract.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from qa.cases import BEFORE, BY_ID, CASES, DAGGER, KILL, Case

REPO = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
REFUSED_S = "already holds a finished run"
STOP_OUTCOMES = ("error", "stop", "nan", "sweep", "report")
RLIMITS = {"fsize": resource.RLIMIT_FSIZE, "as": resource.RLIMIT_AS}
# What every command runs with: no full Hydra errors (a user's default), one OpenMP thread (two
# threads waiting on a busy core slow a tiny fit tenfold), wandb kept offline.
ENV = {"HYDRA_FULL_ERROR": None, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


# ------------------------------------------------------------------------------------------
# Running one command


@dataclass
class Run:
    """One process: what it printed and how it ended."""

    argv: list[str]
    rc: int | None  # None: killed by the runner's timeout
    out: str
    err: str
    seconds: float
    note: str = ""  # what the runner did to it (a signal sent)


def process_env() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in ENV.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class ExecLauncher:
    """Each command as its own process: ``<bin>/bcx <args>``, as a user runs it."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir

    def run(
        self,
        argv: list[str],
        cwd: Path,
        logs: Path,
        timeout: float,
        rlimit: Iterable[tuple[str, int]] = (),
        trigger: Callable[[], bool] | None = None,
        send: int | None = None,
        delay: float = 0.0,
    ) -> Run:
        """Run argv in cwd. With ``trigger``: once it returns true, wait ``delay`` s and send
        signal ``send`` to the process (SIGKILL for a kill -9)."""
        limits = list(rlimit)

        def limit() -> None:
            # Ctrl-C reaches a command started from a terminal: undo a SIGINT ignored by the
            # shell that started the runner in the background, which the child would inherit.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            for name, value in limits:
                resource.setrlimit(RLIMITS[name], (value, value))

        out_path, err_path = logs.with_suffix(".stdout"), logs.with_suffix(".stderr")
        start = time.monotonic()
        note = ""
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(
                [str(self.bin_dir / argv[0]), *argv[1:]],
                cwd=cwd,
                env=process_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=limit,
            )
            timed_out = False
            while process.poll() is None:
                if time.monotonic() - start > timeout:
                    process.kill()
                    timed_out = True
                    break
                if trigger is not None and send is not None and trigger():
                    time.sleep(delay)
                    if process.poll() is None:
                        process.send_signal(send)
                        note = f"{signal.Signals(send).name} after {time.monotonic() - start:.0f} s"
                    trigger = None
                time.sleep(0.1)
            process.wait()
        rc = None if timed_out else process.returncode
        return Run(argv, rc, read(out_path), read(err_path), time.monotonic() - start, note)


class ForkLauncher:
    """Commands run by ``qa.forkserver``: one preloaded process forks a child per command."""

    def __init__(self, jobs: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qa.forkserver", "--jobs", str(jobs)],
            cwd=REPO,
            env=process_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.answers: dict[str, dict] = {}
        self.ready = threading.Event()
        self.changed = threading.Condition()
        self.write_lock = threading.Lock()
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not the protocol's (something printed while importing)
            if answer.get("ready"):
                self.ready.set()
                continue
            with self.changed:
                self.answers[answer["id"]] = answer
                self.changed.notify_all()
        self.ready.set()
        with self.changed:
            self.changed.notify_all()

    def run(self, argv, cwd, logs, timeout, rlimit=(), trigger=None, send=None, delay=0.0) -> Run:
        if trigger is not None:
            raise ValueError("the fork launcher runs no signal scenarios")
        with self.write_lock:
            self.count += 1
            key = f"{self.count}"
            request = {
                "id": key,
                "argv": argv,
                "cwd": str(cwd),
                "stdout": str(logs.with_suffix(".stdout")),
                "stderr": str(logs.with_suffix(".stderr")),
                "timeout": timeout,
                "rlimit": list(rlimit),
            }
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        with self.changed:
            while key not in self.answers:
                if self.process.poll() is not None:
                    raise RuntimeError("qa.forkserver ended early")
                self.changed.wait(1.0)
            answer = self.answers.pop(key)
        rc = None if answer["timed_out"] else answer["rc"]
        out = read(logs.with_suffix(".stdout"))
        err = read(logs.with_suffix(".stderr"))
        return Run(argv, rc, out, err, answer["seconds"])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------
# Files and folders


def checksums(root: Path) -> dict[str, str]:
    """md5 of every file under root, by path relative to it; folders as '<path>/': 'folder'."""
    sums = {}
    if not root.exists():
        return sums
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            sums[f"{path.relative_to(root)}/"] = "folder"
        elif path.is_file() and not path.is_symlink():
            try:
                sums[str(path.relative_to(root))] = hashlib.md5(path.read_bytes()).hexdigest()
            except OSError:
                sums[str(path.relative_to(root))] = "unreadable"
    return sums


def changed(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(files of before that are gone or differ, files that are new)."""
    lost = [p for p, s in before.items() if after.get(p) != s]
    new = [p for p in after if p not in before]
    return lost, new


def make_finished_run(folder: Path) -> None:
    """A stand-in for a finished run's folder (the fast subset's $S): bcx only looks for
    metrics.json, and the other files are there to be checksummed."""
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    (folder / ".hydra").mkdir(exist_ok=True)
    (folder / "metrics.json").write_text('{"metrics": {"rollout/return": 1.0}}\n')
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"stand-in checkpoint")
    (folder / "logs" / "metrics.csv").write_text("step,train/nll\n0,1.0\n")
    (folder / ".hydra" / "overrides.yaml").write_text("- env=inverted_pendulum\n")


SB3_SCRIPT = r"""
import sys
import gymnasium as gym
from stable_baselines3 import PPO, SAC
folder = sys.argv[1]
for name in sys.argv[2:]:
    if name == "ppo_ip.zip":
        model = PPO("MlpPolicy", gym.make("InvertedPendulum-v5"), n_steps=64, batch_size=64, seed=0)
        model.learn(64)
    elif name == "sac_ip.zip":
        model = SAC("MlpPolicy", gym.make("InvertedPendulum-v5"), learning_starts=10, seed=0)
        model.learn(20)
    elif name == "sac_reacher.zip":
        model = SAC("MlpPolicy", gym.make("Reacher-v5"), learning_starts=10, seed=0)
        model.learn(20)
    model.save(f"{folder}/{name}")
"""


def make_files(folder: Path, names: set[str], bin_dir: Path, logs: Path) -> None:
    """The $F input files the cases name (and what they are made from)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notzip.zip").write_text("this is a text file, not a zip\n")
    (folder / "empty.zip").write_bytes(b"")
    with zipfile.ZipFile(folder / "garbage_inside.zip", "w") as archive:
        archive.writestr("data", "{this is not json")
        archive.writestr("policy.pth", b"\x00" * 64)
    (folder / "minari_empty").mkdir(exist_ok=True)
    (folder / "minari_corrupt" / "data").mkdir(parents=True, exist_ok=True)
    (folder / "minari_corrupt" / "data" / "main_data.hdf5").write_bytes(
        bytes((i * 7919 + 13) % 256 for i in range(8192))
    )
    need = set(names)
    if "trunc.zip" in need:
        need.add("sac_ip.zip")
    if need & {"minari_trunc", "minari_nan"}:
        need.add("minari_ip")
    models = sorted(need & {"ppo_ip.zip", "sac_ip.zip", "sac_reacher.zip"})
    if models:
        subprocess.run(
            [sys.executable, "-c", SB3_SCRIPT, str(folder), *models],
            check=True,
            env=process_env(),
            stdout=(logs / "sb3.log").open("w"),
            stderr=subprocess.STDOUT,
        )
    if "trunc.zip" in need:
        (folder / "trunc.zip").write_bytes((folder / "sac_ip.zip").read_bytes()[:5000])
    exports = {"minari_ip": ("inverted_pendulum", 4), "minari_lane": ("lane", 3)}
    exports["minari_cheetah"] = ("halfcheetah", 3)
    for name, (env, episodes) in exports.items():
        if name in need and not (folder / name).exists():
            subprocess.run(
                [
                    str(bin_dir / "bcx-export"),
                    f"env={env}",
                    f"episodes={episodes}",
                    f"path={folder / name}",
                    f"hydra.run.dir={logs / ('export-' + name)}",
                ],
                check=True,
                cwd=logs,
                env=process_env(),
                stdout=(logs / f"export-{name}.log").open("w"),
                stderr=subprocess.STDOUT,
            )
    data = folder / "minari_ip" / "data" / "main_data.hdf5"
    if "minari_trunc" in need:
        (folder / "minari_trunc" / "data").mkdir(parents=True, exist_ok=True)
        (folder / "minari_trunc" / "data" / "main_data.hdf5").write_bytes(
            data.read_bytes()[:100_000]
        )
    if "minari_nan" in need:
        import h5py

        shutil.copytree(folder / "minari_ip", folder / "minari_nan", dirs_exist_ok=True)
        with h5py.File(folder / "minari_nan" / "data" / "main_data.hdf5", "r+") as file:
            file["episode_0"]["observations"][5, 0] = float("nan")


# ------------------------------------------------------------------------------------------
# Judging


@dataclass
class Result:
    row: int
    id: str
    kind: str
    title: str
    cmd: str
    expect: list[str]
    exit: int | None = None
    line: str = ""  # the line a user reads: the first starting with the program's name, else
    # the first on stderr
    passed: bool = False
    skipped: str = ""
    outcome: str = ""  # the expectation met, if any
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    work: list[str] = field(default_factory=list)
    traceback: bool = False
    seconds: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""

    @property
    def verdict(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.passed:
            return "pass" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        reasons = "; ".join(self.reasons)
        return f"FAIL: {reasons}" + (f" ({'; '.join(self.notes)})" if self.notes else "")


def key_line(run: Run, program: str) -> str:
    for text in (run.err, run.out):
        for line in text.splitlines():
            if line.startswith(f"{program}:"):
                return line.strip()
    lines = [line.strip() for line in run.err.splitlines() if line.strip()]
    return lines[0] if lines else ""


def option(argv: list[str], key: str) -> str | None:
    """The value of the last ``key=value`` in argv."""
    found = None
    for arg in argv:
        if arg.startswith(f"{key}="):
            found = arg.split("=", 1)[1]
    return found


def run_dir(argv: list[str], cwd: Path) -> Path | None:
    folder = option(argv, "run_dir") or option(argv, "hydra.run.dir")
    return None if folder is None else (cwd / folder).resolve()


def detect_work(run: Run, new: list[str]) -> list[str]:
    """What the run did before it ended: demonstrations collected, a Trainer started."""
    work = []
    if re.search(r"collected \d+ expert episodes", run.out + run.err) or any(
        p.endswith(".npz") and "/rounds/" not in f"/{p}" for p in new
    ):
        work.append("demos collected")
    parts = [Path(p).parts for p in new]  # a folder's path ends with "/"
    if any(
        {"checkpoints", "logs"} & set(pp) or pp[-1] in ("metrics.json", "fit.ckpt") for pp in parts
    ):
        work.append("training ran")  # (Lightning made its folders, even if nothing survived)
    elif any("rounds" in pp for p, pp in zip(new, parts, strict=True) if not p.endswith("/")):
        work.append("resume state written")
    return work


def check_outcome(
    outcome: str, case: Case, run: Run, program: str, cwd: Path, work: list[str], lost: list[str]
) -> list[str]:
    """Why ``run`` does not meet ``outcome`` (empty: it does)."""
    text = run.out + "\n" + run.err
    reasons = []
    if outcome == "notice":  # still at work when stopped, having said what it would cost
        folder = run_dir(run.argv, cwd)
        log = read(folder / "train.log") if folder is not None else ""
        if run.rc is not None:
            reasons.append(f"exit {run.rc} before the {case.timeout} s cap")
        if not re.search(case.says or "$^", text + "\n" + log, re.M):
            reasons.append(f"no notice of what it is about to do (/{case.says}/)")
        return reasons + (["traceback"] if TRACEBACK in text else [])
    if run.rc is None:
        return [f"still running after {case.timeout} s (killed)"]
    has_traceback = TRACEBACK in text
    says = case.says
    if outcome == "error":
        lines = [line for line in run.err.splitlines() if line.strip()]
        if run.rc != 2:
            reasons.append(f"exit {run.rc}, not 2")
        if not any(line.startswith(f"{program}: error:") for line in lines):
            reasons.append(f"no '{program}: error:' line")
        elif len(lines) > 1:
            reasons.append(f"{len(lines)} lines on stderr, not one")
        if work:
            reasons.append("work done first: " + ", ".join(work))
    elif outcome in ("stop", "nan"):
        if run.rc == 0:
            reasons.append("exit 0")
        if case.codes and run.rc not in case.codes:
            reasons.append(f"exit {run.rc}, not {' or '.join(map(str, case.codes))}")
        if outcome == "nan":
            line = key_line(run, program)
            if run.rc != 2:
                reasons.append(f"exit {run.rc}, not 2")
            if not (line.startswith(f"{program}: error:") and "became" in line):
                reasons.append("no 'bcx: error: ... became ...' line")
            reasons += check_nan_checkpoint(line, run_dir(run.argv, cwd))
        else:
            pattern = says or rf"^{program}: "
            if not re.search(pattern, text, re.M):
                reasons.append(f"no line saying what happened (/{pattern}/)")
    elif outcome in ("ok", "heal", "resume"):
        if run.rc != 0:
            reasons.append(f"exit {run.rc}")
        folder = run_dir(run.argv, cwd)
        if program == "bcx" and folder is not None and not (folder / "metrics.json").is_file():
            reasons.append("no metrics.json")
        if outcome == "heal" and says and not re.search(says, text, re.M):
            reasons.append(f"no warning naming the file (/{says}/)")
        if outcome == "resume" and not re.search(r"resuming", text):
            reasons.append("did not resume")
    elif outcome == "sweep":
        if run.rc in (0, None):
            reasons.append(f"exit {run.rc}")
        sweep = cwd / (option(run.argv, "hydra.sweep.dir") or "multirun")
        jobs = [p.parent.parent for p in sweep.glob("*/.hydra/config.yaml")]
        failed = [j for j in jobs if (j / "failed.json").is_file()]
        finished = [j for j in jobs if (j / "metrics.json").is_file()]
        if not failed:
            reasons.append("no failed.json in any job")
        if len(failed) + len(finished) < len(jobs):
            reasons.append("a job folder has neither failed.json nor metrics.json")
    elif outcome == "report":
        if run.rc != 1:
            reasons.append(f"exit {run.rc}, not 1")
        if not re.search(r"^bcx-report: .*failed run", run.err, re.M):
            reasons.append("no 'bcx-report: ... failed run' line")
        if re.search(r"Warning:", text):
            reasons.append("Python warnings printed")
        if says and not re.search(says, text, re.M):
            reasons.append(f"the damaged file is not named (/{says}/)")
    if has_traceback:
        reasons.append("traceback")
    if outcome in STOP_OUTCOMES and lost:
        reasons.append("changed files already written: " + ", ".join(lost[:3]))
    for check in case.checks:
        if check.startswith("not_printed:") and check.split(":", 1)[1] in text:
            reasons.append(f"printed {check.split(':', 1)[1]} (the target was called)")
        if check == "not_resumed" and "resuming" in text:
            reasons.append("resumed a finished run")
        if check.startswith("rounds="):
            reasons += check_rounds(run_dir(run.argv, cwd), int(check.split("=")[1]))
        if check == "paths_not_moved" and outcome == "ok":
            folder = run_dir(run.argv, cwd)
            if folder is not None and (folder / "outputs").exists():
                reasons.append("relative paths moved into the run folder (outputs/ there)")
        if check == "no_partial_files":
            partial = [str(p.relative_to(cwd)) for p in cwd.rglob("*") if ".tmp" in p.name]
            if partial:
                reasons.append("half-written files left: " + ", ".join(partial[:3]))
    return reasons


def check_rounds(folder: Path | None, rounds: int) -> list[str]:
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError, TypeError):
        return []  # reported as 'no metrics.json'
    listed = len(metrics.get("rounds", []))
    counted = metrics.get("run", {}).get("rounds")
    if listed != rounds or counted != rounds:
        return [f"metrics.json lists {listed} rounds (run.rounds={counted}), not {rounds}"]
    return []


def check_nan_checkpoint(line: str, folder: Path | None) -> list[str]:
    """A NaN message that points at checkpoints/last.ckpt must find finite weights there."""
    if folder is None or "checkpoints/last.ckpt" not in line:
        return []
    path = folder / "checkpoints" / "last.ckpt"
    if re.search(r"no checkpoint|none was saved|not saved", line):
        return []
    if not path.is_file():
        return ["the message points at checkpoints/last.ckpt, which does not exist"]
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        return ["checkpoints/last.ckpt holds non-finite weights"]
    return []


# ------------------------------------------------------------------------------------------
# The catalogue


class Catalogue:
    """The shared state of one rerun: work folder, $S, $F, templates, launcher."""

    def __init__(self, work: Path, launcher, fast: bool, bin_dir: Path) -> None:
        self.work, self.launcher, self.fast, self.bin_dir = work, launcher, fast, bin_dir
        self.files = work / "files"
        self.shared = work / "shared" / "outputs" / "qa_shared"
        self.cases_dir = work / "cases"
        self.logs = work / "logs"
        self.warm_cache: Path | None = None
        self.shared_sums: dict[str, str] = {}
        self.shared_lock = threading.Lock()
        self.templates: dict[str, Path] = {}
        self.template_lock = threading.Lock()
        self.c00: Result | None = None
        self.immutable: dict[str, list[Path]] = {}  # by case id: made immutable for it
        for folder in (self.files, self.cases_dir, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    # -- setup -------------------------------------------------------------------------

    def prepare(self, cases: list[Case]) -> None:
        """$F, $S and the warm demo cache."""
        names = set().union(*(case.files for case in cases)) if cases else set()
        if self.fast:
            make_files(self.files, set(), self.bin_dir, self.logs)
            make_finished_run(self.shared)
            self.shared_sums = checksums(self.shared)
            return
        c00 = BY_ID["C00"]
        errors: list[BaseException] = []

        def files() -> None:
            try:
                make_files(self.files, names, self.bin_dir, self.logs)
            except BaseException as err:  # noqa: BLE001  (reported below)
                errors.append(err)

        thread = threading.Thread(target=files)
        thread.start()
        self.c00 = self.run_case(c00)
        thread.join()
        if errors:
            raise RuntimeError(f"making $F failed (see {self.logs}): {errors[0]}")
        if not (self.shared / "metrics.json").is_file():
            raise RuntimeError(f"C00 did not finish, so there is no $S: {self.c00.verdict}")
        demos = self.shared.parents[1] / "outputs" / "cache" / "demos"
        self.warm_cache = demos if demos.is_dir() else None
        self.shared_sums = checksums(self.shared)

    def template(self, name: str) -> Path:
        """A killed run's resume state, made once: 'kill' (mid-fit) or 'dagger' (in the
        third round's fit)."""
        with self.template_lock:
            if name in self.templates:
                return self.templates[name]
            cwd = self.work / "templates" / name
            self.new_folder(cwd)
            if name == "kill":
                argv = shlex.split(f"{KILL} hydra.run.dir=outputs/qa_kill/k1")
                trigger = fit_saved(cwd, None)
            else:
                argv = shlex.split(f"{DAGGER} hydra.run.dir=outputs/qa_kill/dag_k")
                trigger = fit_saved(cwd, 2)
            run = self.launcher.run(
                argv, cwd, self.logs / f"template-{name}", 900, (), trigger, signal.SIGKILL, 2.0
            )
            stores = list((cwd / "outputs" / "cache" / "rounds").glob("*/fit.json"))
            if run.rc != -signal.SIGKILL or not stores:
                raise RuntimeError(
                    f"template {name}: the run was not killed mid-fit (exit {run.rc}): "
                    f"{run.err[-500:]}"
                )
            self.templates[name] = cwd
            return cwd

    def new_folder(self, cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        if self.warm_cache is not None:
            shutil.copytree(self.warm_cache, cwd / "outputs" / "cache" / "demos")

    def setup(self, case: Case, cwd: Path) -> None:
        """The case's named setup, in its folder."""
        name = case.setup
        demos = cwd / "outputs" / "cache" / "demos"
        cached = sorted(demos.glob("*.npz"))
        if name in ("cache_truncate", "cache_zero", "cache_inconsistent"):
            if not cached:
                raise RuntimeError("no cached demonstrations to damage")
            path = cached[0]
            if name == "cache_truncate":
                os.truncate(path, 20000)
            elif name == "cache_zero":
                os.truncate(path, 0)
            else:
                import numpy as np

                with np.load(path) as arrays:
                    data = {k: arrays[k] for k in arrays.files}
                data["obs"] = data["obs"][:10]
                with path.open("wb") as file:
                    np.savez(file, **data)
        elif name in ("killed_fit", "killed_fit_truncated"):
            source = self.template("kill")
            shutil.copytree(
                source / "outputs" / "cache", cwd / "outputs" / "cache", dirs_exist_ok=True
            )
            if name == "killed_fit_truncated":
                for path in (cwd / "outputs" / "cache" / "rounds").glob("*/fit.ckpt"):
                    os.truncate(path, 100_000)
        elif name in ("killed_dagger", "killed_dagger_truncated", "killed_dagger_bad_state"):
            source = self.template("dagger")
            shutil.copytree(
                source / "outputs" / "cache", cwd / "outputs" / "cache", dirs_exist_ok=True
            )
            rounds = cwd / "outputs" / "cache" / "rounds"
            if name == "killed_dagger_truncated":
                checkpoints = sorted(rounds.glob("*/round-*.ckpt"))
                if not checkpoints:
                    raise RuntimeError("the killed DAgger run saved no round checkpoint")
                for path in checkpoints:
                    os.truncate(path, 50_000)
            if name == "killed_dagger_bad_state":
                for path in rounds.glob("*/state.json"):
                    path.write_text('{"completed_rounds": 1')
        elif name == "finished_dagger":
            argv = shlex.split(case.cmd.replace("qa_dagger_rerun", "qa_dagger_first"))
            run = self.launcher.run(argv, cwd, self.logs / f"{case.id}-first", case.timeout)
            if run.rc != 0:
                raise RuntimeError(f"the first DAgger run failed (exit {run.rc})")
        elif name in ("read_only_cache", "read_only_cache_with_file"):
            folder = cwd / "rocache"
            folder.mkdir()
            if name == "read_only_cache_with_file":
                for path in cached:
                    shutil.copy(path, folder / path.name)
            self.make_immutable(case, folder)
        elif name == "read_only_run_dir":
            (cwd / "rorun").mkdir()
            self.make_immutable(case, cwd / "rorun")
        elif name == "read_only_resume_dir":
            (cwd / "roresume").mkdir()
            self.make_immutable(case, cwd / "roresume")
        elif name == "a_file":
            (cwd / "afile").write_text("a regular file where a folder is expected\n")
        elif name == "copy_shared":
            shutil.copytree(self.shared, cwd / "outputs" / "qa_L1")
        elif name == "truncated_metrics":
            source, target = cwd / "outputs" / "qa_multi", cwd / "outputs" / "qa_multi_bad"
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("report"))
            found = sorted(target.glob("*/metrics.json"))
            if not found:
                raise RuntimeError("the X6 sweep left no metrics.json to truncate")
            os.truncate(found[0], found[0].stat().st_size // 2)
        elif name not in (None, "shared_run"):  # shared_run: C00 makes $S where it runs
            raise ValueError(f"unknown setup {name}")

    def make_immutable(self, case: Case, path: Path) -> None:
        if os.geteuid() != 0 or shutil.which("chattr") is None:
            raise Skip("needs root and chattr (chattr +i), as the catalogue's run did")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise Skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        self.immutable.setdefault(case.id, []).append(path)

    def release(self, case: Case | None = None) -> None:
        """chattr -i what was made immutable for the case (for every case: None)."""
        for key in [case.id] if case is not None else list(self.immutable):
            for path in self.immutable.pop(key, []):
                subprocess.run(["chattr", "-i", str(path)], capture_output=True)

    # -- running -----------------------------------------------------------------------

    def argv(self, case: Case, shared: str | None) -> list[str]:
        cmd = case.cmd.replace("$F", str(self.files)).replace("$W", str(self.work))
        if shared is not None:
            cmd = cmd.replace("$S", shared)
        return shlex.split(cmd)

    def run_case(self, case: Case, cwd: Path | None = None) -> Result:
        result = Result(case.row, case.id, case.kind, case.title, case.cmd, list(case.expect))
        if case.id == "C00" and self.c00 is not None:
            return self.c00
        if cwd is None:
            cwd = self.cases_dir / case.id
            if case.id == "C00":
                cwd = self.shared.parents[1]
            self.new_folder(cwd)
        try:
            self.setup(case, cwd)
        except Skip as skip:
            self.release(case)
            result.skipped = str(skip)
            return result
        except Exception as err:  # noqa: BLE001  (a setup that fails is the case's result)
            self.release(case)
            result.reasons.append(f"setup failed: {err}")
            return result
        try:
            return self._judge(case, cwd, result)
        finally:
            self.release(case)

    def _judge(self, case: Case, cwd: Path, result: Result) -> Result:
        program = shlex.split(case.cmd)[0]
        names_shared = "$S" in case.cmd and case.id != "C00" and not self.fast
        before = checksums(cwd)
        runs = []
        if self.fast:  # $S is checked by `make qa` (and by row L1): here, a fresh folder
            shared_arg = "hydra.run.dir=outputs/qa_fresh"
        elif names_shared or case.id == "C00":
            shared_arg = f"hydra.run.dir={self.shared}"
        else:
            shared_arg = None
        logs = self.logs / case.id
        trigger, send = self.signal_plan(case, cwd)
        run = self.launcher.run(
            self.argv(case, shared_arg),
            cwd,
            logs,
            case.timeout,
            case.rlimit,
            trigger,
            send,
            1.0 if case.signal and case.signal[1] == "fit" else 4.0,
        )
        runs.append(run)
        if names_shared:
            with self.shared_lock:
                lost_s, new_s = changed(self.shared_sums, checksums(self.shared))
            if lost_s or new_s:
                result.reasons.append("changed $S: " + ", ".join((lost_s + new_s)[:3]))
            if REFUSED_S in run.err:
                refused_ok = run.rc == 2 and TRACEBACK not in run.err
                if not refused_ok:
                    result.reasons.append(f"$S refusal: exit {run.rc}")
                result.notes.append("$S refused; judged on a fresh folder")
                before = checksums(cwd)
                run = self.launcher.run(
                    self.argv(case, "hydra.run.dir=outputs/qa_fresh"),
                    cwd,
                    self.logs / f"{case.id}-fresh",
                    case.timeout,
                    case.rlimit,
                )
                runs.append(run)
        after = checksums(cwd)
        lost, new = changed(before, after)
        result.exit = run.rc
        result.line = key_line(run, program)[:300]
        result.seconds = round(sum(r.seconds for r in runs), 1)
        result.traceback = any(TRACEBACK in r.out + r.err for r in runs)
        result.work = detect_work(run, new)
        result.stdout_tail = run.out[-3000:]
        result.stderr_tail = run.err[-3000:]
        if run.note:
            result.notes.append(run.note)
        if case.note:
            result.notes.append(case.note)
        tried = {}
        for outcome in case.expect:
            tried[outcome] = check_outcome(outcome, case, run, program, cwd, result.work, lost)
            if not tried[outcome]:
                result.outcome = outcome
                break
        if not result.outcome:
            result.reasons += tried[case.expect[0]]
        if result.outcome and "same_as_reference" in case.checks:
            result.reasons += self.compare_to_reference(case, cwd, run)
        result.passed = bool(result.outcome) and not result.reasons
        return result

    def signal_plan(self, case: Case, cwd: Path):
        if case.signal is None:
            return None, None
        name, when = case.signal
        send = getattr(signal, name)
        if when == "fit":
            return fit_saved(cwd, None), send
        folder = run_dir(self.argv(case, None), cwd)
        return (lambda: (folder / "train.log").exists()), send

    def compare_to_reference(self, case: Case, cwd: Path, run: Run) -> list[str]:
        """The resumed run's metrics against an uninterrupted run of the same command."""
        argv = [a for a in run.argv if not a.startswith("hydra.run.dir=")]
        argv += ["hydra.run.dir=outputs/qa_kill/ref", "resume_dir=outputs/ref_resume"]
        reference = self.launcher.run(argv, cwd, self.logs / f"{case.id}-reference", case.timeout)
        if reference.rc != 0:
            return [f"the uninterrupted reference run failed (exit {reference.rc})"]
        ours = json.loads((run_dir(run.argv, cwd) / "metrics.json").read_text())
        theirs = json.loads((cwd / "outputs" / "qa_kill" / "ref" / "metrics.json").read_text())
        differ = [key for key in ("metrics", "curves") if ours.get(key) != theirs.get(key)]
        return [f"{' and '.join(differ)} differ from an uninterrupted run"] if differ else []


class Skip(Exception):
    """A case that cannot run on this machine."""


def fit_saved(cwd: Path, round_index: int | None) -> Callable[[], bool]:
    """True once a mid-fit checkpoint is saved under cwd's resume_dir (of that round)."""

    def saved() -> bool:
        for state in (cwd / "outputs" / "cache" / "rounds").glob("*/fit.json"):
            if round_index is None:
                return True
            try:
                if json.loads(state.read_text()).get("round") == round_index:
                    return True
            except (OSError, ValueError):
                continue
        return False

    return saved


# ------------------------------------------------------------------------------------------
# Scheduling and the report


def chains(cases: list[Case]) -> list[list[Case]]:
    """Cases grouped so that one that runs ``after`` another follows it in its folder."""
    chosen = {case.id for case in cases}
    groups: dict[str, list[Case]] = {}
    for case in cases:
        root = case
        while root.after is not None and root.after in chosen:
            root = BY_ID[root.after]
        groups.setdefault(root.id, []).append(case)
    return list(groups.values())


def estimate(chain: list[Case]) -> float:
    """Rough seconds, to start the long chains first."""
    total = 0.0
    for case in chain:
        total += 10 if case.fast else 60 if case.expect == ("error",) else case.timeout / 3
    return total


def rerun(
    cases: list[Case],
    work: Path,
    jobs: int,
    fast: bool,
    launcher_name: str,
    bin_dir: Path,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run the cases (with what they need) and return their results, in catalogue order."""
    launcher = ForkLauncher(jobs) if launcher_name == "fork" else ExecLauncher(bin_dir)
    catalogue = Catalogue(work, launcher, fast, bin_dir)
    results: dict[str, Result] = {}
    try:
        catalogue.prepare(cases)
        if catalogue.c00 is not None and BY_ID["C00"] in cases:
            results["C00"] = catalogue.c00
            if progress:
                progress(catalogue.c00)
        todo = sorted(
            (chain for chain in chains([c for c in cases if c.id not in results])),
            key=estimate,
            reverse=True,
        )
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    chain = todo.pop(0)
                cwd = None
                for case in chain:
                    if case.after is not None and case.after in results:
                        cwd = catalogue.cases_dir / chain[0].id
                        if results[case.after].skipped:
                            result = Result(
                                case.row,
                                case.id,
                                case.kind,
                                case.title,
                                case.cmd,
                                list(case.expect),
                                skipped=f"{case.after} skipped",
                            )
                            results[case.id] = result
                            continue
                    result = catalogue.run_case(case, cwd)
                    with lock:
                        results[case.id] = result
                    if progress:
                        progress(result)

        threads = [threading.Thread(target=worker) for _ in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        catalogue.release()
        if isinstance(launcher, ForkLauncher):
            launcher.close()
    return [results[case.id] for case in cases if case.id in results]


def totals(results: list[Result]) -> dict[str, int]:
    ran = [r for r in results if not r.skipped]
    return {
        "cases": len(results),
        "clean stops": sum(r.passed and r.outcome in STOP_OUTCOMES for r in ran),
        "exit 0 on bad input": sum(
            r.kind != "control" and r.exit == 0 and not r.passed for r in ran
        ),
        "failures after work started": sum(
            not r.passed and r.exit != 0 and bool(r.work) and r.kind != "control" for r in ran
        ),
        "tracebacks": sum(r.traceback for r in ran),
        "meet the contract": sum(r.passed for r in ran),
        "break the contract": sum(not r.passed for r in ran),
        "skipped": len(results) - len(ran),
    }


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[Result], header: list[str]) -> str:
    total = totals(results)
    lines = [
        "# QA catalogue, rerun",
        "",
        *header,
        "",
        "| | catalogue (b23607f) | now |",
        "|---|---|---|",
    ]
    for key, before in BEFORE.items():
        lines.append(f"| {key} | {before} | {total[key]} |")
    for key in ("meet the contract", "break the contract", "skipped"):
        lines.append(f"| {key} | | {total[key]} |")
    lines += [
        "",
        "| # | id | kind | case | exit | first line | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        exit_text = "timeout" if r.exit is None and not r.skipped else str(r.exit)
        line = r.line if len(r.line) <= 160 else r.line[:157] + "..."
        lines.append(
            f"| {r.row} | {r.id} | {r.kind} | {cell(r.title)} | {exit_text} | {cell(line)} | "
            f"{cell(r.verdict)} |"
        )
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bcx", "conf"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qa.run_catalogue", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case ids (default: all 186)")
    parser.add_argument("--fast", action="store_true", help="only the fast subset")
    parser.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument(
        "--launcher",
        choices=("exec", "fork"),
        default="exec",
        help="exec: each command as .venv/bin/bcx (default); fork: from one "
        "preloaded process (qa.forkserver; fast-subset cases only)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "qa")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--merge",
        type=Path,
        help="an earlier results.json: the report keeps its rows for the cases not run now",
    )
    args = parser.parse_args(argv)

    cases = list(CASES)
    if args.only:
        unknown = [i for i in args.only if i not in BY_ID]
        if unknown:
            parser.error(f"unknown case ids: {', '.join(unknown)}")
        wanted = set(args.only)
        for case_id in args.only:  # and the cases they run after
            while BY_ID[case_id].after is not None:
                case_id = BY_ID[case_id].after
                wanted.add(case_id)
        cases = [c for c in CASES if c.id in wanted]
    if args.fast:
        cases = [c for c in cases if c.fast]
    if args.launcher == "fork" and any(not c.fast for c in cases):
        parser.error("--launcher fork runs only fast-subset cases (add --fast)")
    work = args.work or Path(tempfile.mkdtemp(prefix="bcx-qa-"))
    work.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    start = time.monotonic()
    print(f"qa: {len(cases)} cases, {args.jobs} at a time, work folder {work}", flush=True)

    def progress(result: Result) -> None:
        print(f"qa: {result.id:>9} exit {result.exit!s:>4}  {result.verdict[:110]}", flush=True)

    try:
        results = rerun(cases, work, args.jobs, args.fast, args.launcher, bin_dir, progress)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - start
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"{when}, bcx at {git_commit()}: {len(results)} cases in {seconds / 60:.1f} min, "
        f"{args.jobs} at a time (`make qa`, `qa/run_catalogue.py`)."
    ]
    runs = [{"when": when, "seconds": round(seconds), "ids": [r.id for r in results]}]
    if args.merge:
        earlier = json.loads(args.merge.read_text())
        now = {r.id: r for r in results}
        kept = [
            Result(**{k: v for k, v in r.items() if k != "verdict"})
            for r in earlier["results"]
            if r["id"] not in now
        ]
        by_id = {r.id: r for r in kept} | now
        results = [by_id[c.id] for c in CASES if c.id in by_id]
        runs = (
            earlier.get("runs")
            or [
                {
                    "when": earlier["when"],
                    "seconds": earlier["seconds"],
                    "ids": [r["id"] for r in earlier["results"]],
                }
            ]
        ) + runs
        header = [
            f"- {run['when']}: {len(run['ids'])} cases in {run['seconds'] / 60:.1f} min"
            + ("" if len(run["ids"]) == len(CASES) else f" (rerun: {', '.join(run['ids'])})")
            for run in runs
        ] + ["", "Each row shows its latest run (`make qa`, `qa/run_catalogue.py`)."]
    args.out.mkdir(parents=True, exist_ok=True)
    report = markdown(results, header)
    (args.out / "results.md").write_text(report)
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "when": when,
                "seconds": round(seconds),
                "runs": runs,
                "totals": totals(results),
                "before": BEFORE,
                "results": [asdict(r) | {"verdict": r.verdict} for r in results],
            },
            indent=1,
        )
    )
    print(report.split("\n| # |")[0])
    print(f"qa: {args.out / 'results.md'} ({seconds / 60:.1f} min)")
    return 0 if all(r.passed or r.skipped for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
