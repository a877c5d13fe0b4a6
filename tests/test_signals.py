"""Stopped from outside: SIGTERM (kill, docker stop, Kubernetes, CI runners) and SIGUSR1 (SLURM's
warning before its time limit) stop a run with exit 128 + the signal's number and one line saying
what was kept. A fit stopped this way first saves its mid-fit checkpoint at the end of the step,
and rerunning the command resumes it to the metrics of a run never stopped. Ctrl-C or SIGTERM
while the expert demonstrates caches nothing, and says so. The tests that need no process of
their own send the signal to pytest's, with bcx's handlers installed as ``bcx`` installs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from bcx.conf_dir import CONF_DIR
from bcx.data.collector import Collector
from bcx.errors import Stopped
from bcx.pipeline import run
from bcx.rounds import SaveProgress
from bcx.signals import StopSignals
from tests.conftest import TINY

RUN = (
    "env=inverted_pendulum",
    "data.episodes=3",
    "trainer.max_steps=300",
    "rollout.episodes=2",
    "rollout.num_envs=2",
    *TINY,  # a mid-fit checkpoint every 100 steps
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}


def paths(tmp: Path, cache: Path, name: str) -> list[str]:
    return [
        f"data.cache_dir={cache}",
        f"resume_dir={tmp / 'resume'}",
        f"hydra.run.dir={tmp / name}",
        f"run_dir={tmp / name}",  # the same folder: in-process runs have no Hydra run dir
    ]


def run_in_process(overrides: list[str], signals: StopSignals | None = None) -> dict[str, float]:
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*RUN, *overrides])
    return run(cfg, signals)


def stop_mid_fit(tmp_path: Path, cache_dir: Path, signum: int) -> tuple[int, str]:
    """Start the run as a process, send ``signum`` once it saved a mid-fit checkpoint; its exit
    status and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bcx", *RUN, *paths(tmp_path, cache_dir, "stopped")],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell ignores SIGINT in background jobs, and children inherit that: undo it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not list((tmp_path / "resume").glob("*/fit.json")) and process.poll() is None:
        assert time.monotonic() < deadline, "the run saved no mid-fit checkpoint in 300 s"
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache_dir) -> dict[str, float]:
    """The final metrics of the run the tests stop, run to its end without a stop."""
    return run_in_process(paths(tmp_path_factory.mktemp("uninterrupted"), cache_dir, "run"))


def test_sigterm_mid_fit_saves_the_fit_exits_143_and_a_rerun_resumes_it(
    tmp_path, cache_dir, uninterrupted
):
    returncode, stderr = stop_mid_fit(tmp_path, cache_dir, signal.SIGTERM)
    assert returncode == 143, stderr[-2000:]
    said = re.search(
        r"^bcx: stopped by SIGTERM at step (\d+); the mid-fit checkpoint is saved, rerun the "
        r"same command to resume$",
        stderr,
        re.MULTILINE,
    )
    assert said, stderr[-2000:]
    assert 100 <= int(said[1]) < 300 and "Traceback" not in stderr
    assert not (tmp_path / "stopped" / "metrics.json").exists()

    resumed = run_in_process(paths(tmp_path, cache_dir, "resumed"))
    assert resumed == uninterrupted
    assert not list((tmp_path / "resume").glob("*/*"))  # finished: nothing left to resume


def test_ctrl_c_mid_fit_says_what_was_kept_exits_130_and_a_rerun_resumes_it(
    tmp_path, cache_dir, uninterrupted
):
    """Lightning ends a fit Ctrl-C stops with exit(1) and an INFO note that bcx.quiet hides: the
    run says what happened and what was kept instead, with a shell's code for SIGINT."""
    returncode, stderr = stop_mid_fit(tmp_path, cache_dir, signal.SIGINT)
    assert returncode == 130, stderr[-2000:]
    said = re.search(r"^bcx: interrupted at step (\d+); the last mid-fit checkpoint", stderr, re.M)
    assert said and "rerun the same command to resume from it" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    resumed = run_in_process(paths(tmp_path, cache_dir, "resumed"))
    assert resumed == uninterrupted


def test_sigusr1_stops_the_fit_at_the_end_of_its_step_and_a_rerun_resumes_it(
    tmp_path, cache_dir, uninterrupted, monkeypatch
):
    monkeypatch.delenv("SLURM_NTASKS", raising=False)  # in a SLURM job SIGUSR1 is Lightning's
    save = SaveProgress.on_train_batch_end

    def signalled_at_step_150(self, trainer, *args):
        if trainer.global_step == 150:
            os.kill(os.getpid(), signal.SIGUSR1)
        save(self, trainer, *args)

    monkeypatch.setattr(SaveProgress, "on_train_batch_end", signalled_at_step_150)
    with StopSignals() as signals, pytest.raises(Stopped) as stopped:
        run_in_process(paths(tmp_path, cache_dir, "stopped"), signals)
    assert stopped.value.code == 128 + signal.SIGUSR1
    assert str(stopped.value) == (
        "stopped by SIGUSR1 at step 150; the mid-fit checkpoint is saved, rerun the same "
        "command to resume"
    )
    (state,) = (tmp_path / "resume").glob("*/fit.json")
    assert json.loads(state.read_text()) == {"round": 0}
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # handlers restored

    monkeypatch.setattr(SaveProgress, "on_train_batch_end", save)
    assert run_in_process(paths(tmp_path, cache_dir, "resumed")) == uninterrupted


@pytest.mark.parametrize(
    ("name", "code", "cause"),
    [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "stopped by SIGTERM")],
)
def test_a_stop_during_collection_says_nothing_was_cached(tmp_path, monkeypatch, name, code, cause):
    """Ctrl-C (SIGINT: KeyboardInterrupt) or SIGTERM as the expert starts its episodes."""
    drive = Collector._drive

    def signalled_drive(self, *args):
        os.kill(os.getpid(), getattr(signal, name))
        return drive(self, *args)

    monkeypatch.setattr(Collector, "_drive", signalled_drive)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with StopSignals() as signals, pytest.raises(Stopped) as stopped:
            run_in_process(paths(tmp_path, tmp_path / "cache", "run"), signals)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped.value.code == code
    assert str(stopped.value) == (
        f"{cause} during demonstration collection; nothing was cached, rerun to collect again"
    )
    assert not list(tmp_path.glob("cache/*"))


def test_a_launchers_handler_runs_after_the_save(tmp_path, cache_dir, monkeypatch):
    """submitit requeues its job on SIGUSR2 and exits: it must find the stop's step saved."""
    save = SaveProgress.on_train_batch_end

    def signalled_at_step_150(self, trainer, *args):
        if trainer.global_step == 150:
            os.kill(os.getpid(), signal.SIGUSR2)
        save(self, trainer, *args)

    def requeue_and_exit(signum, frame):  # what submitit's handler does
        (saved,) = (tmp_path / "resume").glob("*/fit.ckpt")
        requeued.append(torch.load(saved, weights_only=False)["global_step"])
        sys.exit(-1)

    requeued: list[int] = []
    monkeypatch.setattr(SaveProgress, "on_train_batch_end", signalled_at_step_150)
    previous = signal.signal(signal.SIGUSR2, requeue_and_exit)
    try:
        with StopSignals() as signals, pytest.raises(SystemExit):
            run_in_process(paths(tmp_path, cache_dir, "stopped"), signals)
        assert signal.getsignal(signal.SIGUSR2) is requeue_and_exit  # given back
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        with StopSignals():
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN  # ignored stays ignored
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert requeued == [150]  # the checkpoint of the step the signal came in
