"""Kill-and-resume: a run killed mid-training and rerun with the same command ends with the same
metrics, bit for bit, as one that was never interrupted; a multi-round run resumed so reports
every round, and a finished one leaves nothing to resume."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bcx.rounds
from bcx.mitigations.dagger import Dagger
from bcx.pipeline import run
from bcx.rounds import code_version
from tests.conftest import TINY, run_cli

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
        f"hydra.run.dir={tmp / name}",
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

    from bcx.conf_dir import CONF_DIR
    from bcx.pipeline import run_key

    def key(*overrides):
        with initialize_config_dir(CONF_DIR, version_base="1.3"):
            return run_key(compose("train", overrides=["env=hopper", "run_dir=.", *overrides]))

    shown = ["trainer.enable_progress_bar=true", "rollout.video=true", "figure.action_samples=true"]
    hidden = ["trainer.enable_progress_bar=false", "rollout.video=false"]
    assert key(*shown) == key(*hidden)
    assert key("optim.lr=3e-4") != key("optim.lr=1e-3")


# DAgger at a tiny scale: its rounds, each fit from scratch on the data gathered so far.
DAGGER = (
    "env=lane",
    "data.episodes=2",
    "mitigation=dagger",
    "trainer.max_steps=50",
    "rollout.episodes=2",
    *TINY,
)


def _rounds(run_dir: Path) -> tuple[list[int], int]:
    """(the round numbers in metrics.json's ``rounds``, its ``run.rounds``)."""
    result = json.loads((run_dir / "metrics.json").read_text())
    return [r["round"] for r in result["rounds"]], result["run"]["rounds"]


def test_a_finished_multi_round_run_is_cleared_so_its_rerun_trains_every_round(
    make_cfg, tmp_path, caplog
):
    with caplog.at_level(logging.INFO, logger="bcx"):
        for name in ("first", "again"):
            run(make_cfg(*DAGGER, "mitigation.rounds=2", f"run_dir={tmp_path / name}"))
            assert _rounds(tmp_path / name) == ([0, 1], 2)
            assert not list((tmp_path / "rounds").glob("*/*"))  # nothing left to resume
    assert "resuming" not in caplog.text


def test_a_resumed_multi_round_run_reports_every_round(make_cfg, tmp_path, monkeypatch, caplog):
    gather = Dagger.next_round

    def killed_in_round_two(self, index, *args):
        if index == 2:
            raise KeyboardInterrupt  # as if the process died while gathering round 2
        return gather(self, index, *args)

    monkeypatch.setattr(Dagger, "next_round", killed_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        run(make_cfg(*DAGGER, "mitigation.rounds=3"))
    (state,) = (tmp_path / "rounds").glob("*/state.json")
    saved = json.loads(state.read_text())["rounds"]  # the finished rounds' metrics
    monkeypatch.setattr(Dagger, "next_round", gather)
    with caplog.at_level(logging.INFO, logger="bcx"):
        run(make_cfg(*DAGGER, "mitigation.rounds=3", f"run_dir={tmp_path / 'resumed'}"))
    assert "resuming after round 2" in caplog.text
    assert _rounds(tmp_path / "resumed") == ([0, 1, 2], 3)
    rounds = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["rounds"]
    assert rounds[:2] == saved
    assert rounds[0]["data/pairs"] < rounds[1]["data/pairs"] < rounds[2]["data/pairs"]


def test_rounds_saved_by_another_bcx_version_are_not_resumed(
    make_cfg, tmp_path, monkeypatch, caplog
):
    """The store is keyed by bcx's code version too: after a change to bcx the same command
    trains every round again, and leaves the old code's rounds alone."""
    gather = Dagger.next_round

    def killed_in_round_one(self, index, *args):
        if index == 1:
            raise KeyboardInterrupt  # killed while gathering round 1, round 0 saved
        return gather(self, index, *args)

    monkeypatch.setattr(Dagger, "next_round", killed_in_round_one)
    with pytest.raises(KeyboardInterrupt):
        run(make_cfg(*DAGGER, "mitigation.rounds=2"))
    (saved,) = (tmp_path / "rounds").glob("*/state.json")
    monkeypatch.setattr(Dagger, "next_round", gather)
    monkeypatch.setattr(bcx.rounds, "code_version", lambda: "0.1.0+changed")
    with caplog.at_level(logging.INFO, logger="bcx"):
        run(make_cfg(*DAGGER, "mitigation.rounds=2", f"run_dir={tmp_path / 'changed'}"))
    assert "resuming" not in caplog.text
    assert _rounds(tmp_path / "changed") == ([0, 1], 2)
    assert saved.exists()  # the other version's store, untouched


def test_the_code_version_names_the_package_version_and_its_files():
    version = code_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\+[0-9a-f]{16}", version), version
    assert code_version() is version  # read once per process
