"""rollout.video: one evaluation episode of the final policy as an mp4, rendered headless."""

from __future__ import annotations

import imageio
import numpy as np
import pytest
import wandb
from omegaconf import OmegaConf

import bcx.pipeline
from bcx.builders import make_envs
from bcx.envs.fork import ForkEnv
from bcx.errors import BCXError
from bcx.pipeline import run
from bcx.results.video import record_episode
from bcx.rollout import rollout
from tests.conftest import TINY


def frames(path) -> np.ndarray:
    """(T, H, W, 3) uint8: every frame of the mp4 at path."""
    return np.stack(imageio.v2.mimread(path, memtest=False))


def test_video_has_one_frame_per_step_of_the_episode(tmp_path):
    """A pole left alone falls: the episode ends early, and the video ends with it."""
    env_cfg = OmegaConf.create({"id": "InvertedPendulum-v5", "kwargs": {}})
    still = lambda obs: np.zeros((len(obs), 1))  # noqa: E731
    (episode,) = rollout(still, make_envs(env_cfg, 1), [5])
    path = record_episode(still, env_cfg, 5, tmp_path / "videos" / "rollout.mp4")
    video = frames(path)
    assert 1 < len(episode) < 1000  # terminated, not truncated
    assert video.shape == (len(episode), 480, 480, 3)
    assert not np.array_equal(video[0], video[-1])  # the pole moved
    assert [p.name for p in path.parent.iterdir()] == ["rollout.mp4"]  # no partial file left


def test_run_records_the_final_policy_and_logs_it_to_wandb(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg(
        "env=reacher",
        "data.episodes=2",
        "trainer.max_steps=20",
        "rollout.episodes=2",
        "rollout.video=true",
        "logger=wandb",
        *TINY,
    )
    metrics = run(cfg)
    wandb.teardown()  # the wandb service writes the run's files after finish() returns
    path = tmp_path / "run" / "videos" / "rollout.mp4"
    assert path.stat().st_size > 0
    assert len(frames(path)) == metrics["rollout/length"] == 50  # Reacher's 50 steps
    (logged,) = (tmp_path / "run" / "wandb").glob("offline-run-*/files/media/videos/**/*.mp4")
    assert logged.read_bytes() == path.read_bytes()


@pytest.mark.parametrize(("env", "env_id"), [("fork", "bcx/Fork-v0")])
def test_env_without_renderer_fails_before_any_work(make_cfg, monkeypatch, env, env_id):
    def no_work(*args, **kwargs):
        raise AssertionError("rollout.video=true was checked after the run began its work")

    # Every env of the env group renders now: take fork's renderer away to stand for one that has
    # none (a user's env, say).
    monkeypatch.setattr(ForkEnv, "metadata", {"render_modes": [], "render_fps": 20})
    monkeypatch.setattr(bcx.pipeline, "make_envs", no_work)
    with pytest.raises(BCXError, match=rf"^rollout\.video=true .* env {env_id} renders nothing"):
        run(make_cfg(f"env={env}", "rollout.video=true", *TINY))
