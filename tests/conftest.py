"""Shared fixtures: compose the real Hydra config with overrides, run experiments in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bcx.conf_dir import CONF_DIR

REPO = Path(__file__).resolve().parents[1]

# Small, fast settings shared by the in-process experiment tests.
TINY = [
    "trainer.enable_progress_bar=false",
    "trainer.val_check_interval=100",
    "trainer.log_every_n_steps=25",
    "rollout.every_n_steps=100000",  # measure once, at the last step
    "checkpoint.every_n_steps=100",
]

# One thread: tiny models gain little from two, and on a loaded machine a second OpenMP thread
# that waits for a busy core can slow a run tenfold.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One demonstration cache for the whole session, as sweeps share one."""
    return tmp_path_factory.mktemp("demos")


@pytest.fixture
def make_cfg(tmp_path: Path, cache_dir: Path) -> Callable[..., DictConfig]:
    """compose('train', overrides) with the run writing under tmp_path."""

    def _make(*overrides: str) -> DictConfig:
        with initialize_config_dir(CONF_DIR, version_base="1.3"):
            return compose(
                "train",
                overrides=[
                    f"run_dir={tmp_path / 'run'}",
                    f"data.cache_dir={cache_dir}",
                    f"resume_dir={tmp_path / 'rounds'}",
                    *overrides,
                ],
            )

    return _make


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m bcx <args>`` in a subprocess, as a user would run it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bcx", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
