"""Progress: bars count the episodes that really ran, stay silent off a terminal or when switched
off, and the sweep callback tallies finished and failed jobs."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

import bcx.progress
from bcx.data.collector import Collector
from bcx.heads.gaussian import GaussianHead
from bcx.measure.shift import ShiftCallback
from bcx.model.module import BCModule
from bcx.model.policy import Policy
from bcx.results.summary import FAILED_FILE, METRICS_FILE
from bcx.results.sweep_progress import SweepProgress
from bcx.rollout import random_policy, rollout
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def envs():
    """InvertedPendulum under random actions: episodes of a few to a few dozen steps."""
    return [gym.make("InvertedPendulum-v5") for _ in range(2)]


def console_output(monkeypatch, terminal: bool) -> io.StringIO:
    """Point the bars at a console writing to a buffer, a terminal or not; returns the buffer."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, color_system=None, width=120)
    monkeypatch.setattr(bcx.progress, "get_console", lambda: console)
    return out


def test_rollout_tells_the_hook_every_episode_end_and_env_step(envs):
    heard = []
    runs = rollout(
        random_policy(envs[0].action_space, 0), envs, range(5), lambda *c: heard.append(c)
    )
    ended, steps = np.array(heard).sum(axis=0)
    assert ended == 5
    assert steps == sum(len(t) for t in runs)
    # One call per batched step: each wave lasts as long as its longest episode.
    waves = [runs[i : i + 2] for i in range(0, 5, 2)]
    assert len(heard) == sum(max(len(t) for t in wave) for wave in waves)


def test_collector_bar_counts_the_episodes_and_steps_collected(envs, monkeypatch):
    out = console_output(monkeypatch, terminal=True)
    collector = Collector(random_policy(envs[0].action_space, 0), envs, first_seed=0)
    demos = collector.expert_episodes(5)
    noisy = collector.episodes(random_policy(envs[0].action_space, 1), 3, kind="noisy episodes")
    text = out.getvalue()
    assert "collecting 5 expert episodes" in text
    assert f"5/5 {len(demos)} env steps" in text
    assert "collecting 3 noisy episodes" in text
    assert f"3/3 {len(noisy)} env steps" in text


def test_shift_callback_labels_its_baselines_and_rollouts(envs, monkeypatch):
    out = console_output(monkeypatch, terminal=True)
    held_out = Collector(random_policy(envs[0].action_space, 0), envs, 0).expert_episodes(2)
    space = envs[0].action_space
    policy = Policy(
        obs_mean=held_out.obs.mean(axis=0),
        obs_std=held_out.obs.std(axis=0),
        action_low=space.low,
        action_high=space.high,
        hidden=[8],
        activation="relu",
        head=GaussianHead,
    )
    shift = ShiftCallback(
        envs=envs,
        expert=random_policy(space, 1),
        seeds=range(100, 103),
        every_n_steps=1,
        held_out=held_out,
        training=held_out,
    )
    metrics = shift.measure(BCModule(policy))
    text = out.getvalue()
    for label in ("rollout", "expert baseline", "random baseline"):
        assert f"{label}: 3 episodes" in text
    assert f"3/3 {round(3 * metrics['rollout/length'])} env steps" in text


@pytest.mark.parametrize(("terminal", "switched_on"), [(False, True), (True, False)])
def test_no_bar_off_a_terminal_or_when_switched_off(envs, monkeypatch, terminal, switched_on):
    out = console_output(monkeypatch, terminal=terminal)
    with bcx.progress.episode_bar("collecting", 2, switched_on) as on_step:
        assert on_step is None  # rollout then runs without any hook
    driver = random_policy(envs[0].action_space, 0)
    Collector(driver, envs, first_seed=0, progress=switched_on).expert_episodes(3)
    assert out.getvalue() == ""


def sweep_config(sweep_dir: Path, job: int | None = None) -> DictConfig:
    """What SweepProgress reads of ``-m data.episodes=2`` over the sweeper's params seed=0,1,2:
    the multirun's config, or with ``job`` that job's (seed=job)."""
    swept = [] if job is None else [f"seed={job}"]
    return OmegaConf.create(
        {
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "sweep": {"dir": str(sweep_dir)},
                "sweeper": {
                    "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": {"seed": "0,1,2"},
                },
                "overrides": {"task": [*swept, "data.episodes=2"]},
                "job": {"num": job},
                "runtime": {"output_dir": str(sweep_dir / str(job))},
            }
        }
    )


def test_sweep_progress_counts_failed_jobs_as_failed(tmp_path, caplog):
    progress = SweepProgress()
    outcomes = [  # finished; stopped by bcx (failed.json); crashed (an exception, no file)
        (METRICS_FILE, {"metrics": {}}, JobStatus.COMPLETED),
        (FAILED_FILE, {"error": "data.episodes must be positive"}, JobStatus.FAILED),
        (None, None, JobStatus.FAILED),
    ]
    with caplog.at_level(logging.INFO, logger="bcx"):
        progress.on_multirun_start(sweep_config(tmp_path))
        for job, (name, content, status) in enumerate(outcomes):
            config = sweep_config(tmp_path, job)
            progress.on_job_start(config)
            (tmp_path / str(job)).mkdir()
            if name:
                (tmp_path / str(job) / name).write_text(json.dumps(content))
            progress.on_job_end(config, JobReturn(status=status))
        with pytest.raises(SystemExit, match="2 of 3 jobs failed"):
            progress.on_multirun_end(sweep_config(tmp_path))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("sweep of 3 jobs")
    assert lines[1] == "sweep job 1/3 started: seed=0"  # the swept key only
    assert lines[2].startswith("sweep job 1/3 finished in ")
    assert "seed=0; 1 finished, 0 failed, 2 to go" in lines[2]
    assert "sweep job 2/3 failed" in lines[4]
    assert "1 finished, 1 failed, 1 to go" in lines[4]
    assert lines[4].endswith("error: data.episodes must be positive")
    assert "sweep job 3/3 failed" in lines[6] and "1 finished, 2 failed, 0 to go" in lines[6]
    assert lines[7].startswith("sweep done: 1 finished, 2 failed, 0 to go")


def test_sweep_progress_registered_on_the_command_line_reports_a_real_sweep(tmp_path):
    result = run_cli(
        "-m",
        "env=inverted_pendulum",
        "data.episodes=3",
        "data.val_episodes=1,5",  # 5 >= data.episodes: the second job fails on bad input
        "trainer.max_steps=20",
        "trainer.val_check_interval=20",
        "trainer.enable_progress_bar=false",
        "rollout.episodes=2",
        "logger=none",
        "hydra.sweep.dir=sweep",
        # ++ adds it, or overrides it where conf/train.yaml registers it already
        "++hydra.callbacks.progress._target_=bcx.results.sweep_progress.SweepProgress",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "bcx: 1 of 2 jobs failed" in result.stderr
    out = result.stdout + result.stderr
    assert "sweep job 1/2 started: data.val_episodes=1" in out
    assert "sweep job 1/2 finished" in out and "1 finished, 0 failed, 1 to go" in out
    assert "sweep job 2/2 failed" in out and "1 finished, 1 failed, 0 to go" in out
    assert "sweep done: 1 finished, 1 failed, 0 to go" in out
    # No bar in output that is not a terminal (the same runs in one show "collecting ...").
    assert "collecting 3 expert episodes" not in out and "rollout: 2 episodes" not in out
