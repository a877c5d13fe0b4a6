"""Kill-and-resume: a run killed mid-training and rerun with the same command ends with the same
metrics, bit for bit, as one that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli

# Flow matching draws noise on every training step, so its metrics only match if the resumed
# fit continues the random stream as well as the weights, optimizer and batch order.
RUN = (
    "env=reacher",
    "data.episodes=3",
    "policy=flow",
    "trainer.max_steps=600",
    "trainer.val_check_interval=100",
    "trainer.log_every_n_steps=25",
    "trainer.enable_progress_bar=false",
    "rollout.every_n_steps=100000",
    "checkpoint.every_n_steps=100",
)


def _command(tmp: Path, name: str, *extra: str) -> list[str]:
    return [
        *RUN,
        f"data.cache_dir={tmp / 'cache'}",
        f"resume_dir={tmp / 'resume'}",
        f"run_dir={tmp / name}",
        *extra,
    ]


def _metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


def _kill_after_first_save(args: list[str], tmp: Path) -> int:
    """Start ``python -m bcx args``, SIGKILL it once it has saved a mid-fit checkpoint."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bcx", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list((tmp / "resume").glob("*/fit.json")) and process.poll() is None:
        assert time.monotonic() < deadline, "the run saved no mid-fit checkpoint in 300 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    return process.wait()


def test_a_killed_run_resumes_to_the_uninterrupted_metrics(tmp_path):
    uninterrupted = run_cli(*_command(tmp_path, "uninterrupted"), cwd=tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]
    # The finished run leaves nothing to resume: the same command would start afresh.
    assert not list((tmp_path / "resume").glob("*/fit.*"))

    returncode = _kill_after_first_save(_command(tmp_path, "killed"), tmp_path)
    assert returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "metrics.json").exists()

    resumed = run_cli(*_command(tmp_path, "resumed"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming round 0's fit from" in resumed.stderr + resumed.stdout
    assert _metrics(tmp_path / "resumed") == _metrics(tmp_path / "uninterrupted")
    assert not list((tmp_path / "resume").glob("*/fit.*"))


def test_resume_false_starts_afresh(tmp_path):
    returncode = _kill_after_first_save(_command(tmp_path, "killed"), tmp_path)
    assert returncode == -signal.SIGKILL
    fresh = run_cli(*_command(tmp_path, "fresh", "resume=false"), cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "resuming" not in fresh.stderr + fresh.stdout
    steps = json.loads((tmp_path / "fresh" / "metrics.json").read_text())["run"]["steps"]
    assert steps == 600
    # Its CSV log starts at the first logged step, not where the killed run stopped.
    first_logged = (tmp_path / "fresh" / "logs" / "metrics.csv").read_text().splitlines()[1]
    assert first_logged.split(",")[-3] == "24"


def test_display_switches_do_not_change_the_resume_key():
    """Turning the progress bar, the video or the action figure on for a rerun still resumes;
    a key that changes the numbers (the learning rate) starts another run."""
    from hydra import compose, initialize_config_dir

    from bcx.train import CONF_DIR, run_key

    def key(*overrides):
        with initialize_config_dir(CONF_DIR, version_base="1.3"):
            return run_key(compose("train", overrides=["env=hopper", "run_dir=.", *overrides]))

    shown = ["trainer.enable_progress_bar=true", "rollout.video=true", "figure.action_samples=true"]
    hidden = ["trainer.enable_progress_bar=false", "rollout.video=false"]
    assert key(*shown) == key(*hidden)
    assert key("optim.lr=3e-4") != key("optim.lr=1e-3")
