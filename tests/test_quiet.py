"""A quiet terminal: a run prints bcx's own lines and its results, not its libraries' chatter
(Lightning's tips and accelerator lines, dependencies' deprecation notices, weights_only notes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import run_cli
from tests.test_resume import _kill_after_first_save

NOISE = (
    "Tip",
    "litlogger",
    "GPU available",
    "TPU available",
    "DeprecationWarning",
    "FutureWarning",
    "weights_only",
    "UserWarning",
    "is deprecated",
    "The dirpath has changed",
    "Trainer.fit",
)

# checkpoint.every_n_steps < max_steps: the run saves mid-fit checkpoints for a rerun to resume.
RUN = (
    "env=inverted_pendulum",
    "data.episodes=3",
    "trainer.max_steps=400",
    "trainer.val_check_interval=100",
    "trainer.enable_progress_bar=false",
    "rollout.episodes=2",
    "rollout.num_envs=2",
    "rollout.every_n_steps=100000",
    "checkpoint.every_n_steps=50",
)


def _command(tmp: Path, name: str) -> list[str]:
    return [
        *RUN,
        f"data.cache_dir={tmp / 'cache'}",
        f"resume_dir={tmp / 'resume'}",
        f"hydra.run.dir={tmp / name}",
        f"run_dir={tmp / name}",
    ]


def _assert_quiet(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "shift/on_policy_nll" in result.stdout and "expert/return" in result.stdout, output
    # The reading under the table, in plain words (its wording is tested in test_shift.py).
    words = " ".join(result.stdout.split())  # rich wraps lines at the terminal's width
    assert "On the states it visits itself the policy's loss is" in words, output
    assert "of the expert's return" in words, output
    for noise in NOISE:
        assert noise not in output, f"{noise!r} in the output:\n{output}"


def test_a_run_prints_its_results_and_no_library_noise(tmp_path):
    _assert_quiet(run_cli(*_command(tmp_path, "run"), cwd=tmp_path))


def test_a_resumed_run_is_as_quiet(tmp_path):
    returncode = _kill_after_first_save(_command(tmp_path, "killed"), tmp_path)
    assert returncode == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = run_cli(*_command(tmp_path, "resumed"), cwd=tmp_path)
    assert "resuming round 0's fit from" in resumed.stdout + resumed.stderr
    _assert_quiet(resumed)


def test_mujoco_deprecations_are_hidden_and_its_other_warnings_shown(tmp_path):
    # HalfCheetah's model uses the deprecated settotalmass; a NaN velocity is a real warning.
    script = textwrap.dedent(
        """
        import gymnasium as gym
        import mujoco
        import numpy as np
        from bcx.quiet import quiet

        quiet()
        gym.make("HalfCheetah-v5").reset(seed=0)
        model = mujoco.MjModel.from_xml_string(
            '<mujoco><worldbody><body><joint/><geom size="0.1"/></body></worldbody></mujoco>'
        )
        data = mujoco.MjData(model)
        data.qvel[:] = np.nan
        mujoco.mj_step(model, data)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "settotalmass" not in result.stdout + result.stderr
    assert "Nan, Inf or huge value in QVEL" in result.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
