"""``rollout.video``: one evaluation episode of a policy, recorded headless as an mp4.

The episode is run by ``bcx.rollout.rollout`` in an env made with ``render_mode="rgb_array"``,
so it is the same episode the rollout measurement sees on that seed; a frame is the state each
action was chosen in, so the video has one frame per step. MuJoCo renders through EGL unless
MUJOCO_GL says otherwise, set only here, right before a rendering env is made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio

import bcx.envs  # noqa: F401  (registers bcx/* env ids)
from bcx.errors import BCXError
from bcx.rollout import PolicyFn, rollout


def check_can_record(env_cfg: Mapping[str, Any]) -> None:
    """Raise BCXError, before any training, if ``rollout.video=true`` cannot record the env of
    ``env_cfg`` (``id`` and gym.make ``kwargs``): it has no rgb_array renderer, or rendering one
    frame fails here (no EGL, say)."""
    env_id = env_cfg["id"]
    with closing(gym.make(env_id, **env_cfg["kwargs"])) as env:
        modes = env.metadata.get("render_modes") or []
    if "rgb_array" not in modes:
        raise BCXError(
            f"rollout.video=true needs an env that renders rgb_array frames, but env {env_id} "
            f"renders {', '.join(modes) or 'nothing'}; set rollout.video=false."
        )
    try:
        with closing(_rendering_env(env_cfg)) as env:
            env.reset(seed=0)
            env.render()
    except Exception as error:  # whatever the GL backend raises, it means: no video here
        raise BCXError(
            f"rollout.video=true could not render env {env_id} with "
            f"MUJOCO_GL={os.environ.get('MUJOCO_GL')} ({type(error).__name__}: {error}); try "
            "MUJOCO_GL=osmesa (needs libosmesa6) or set rollout.video=false."
        ) from error


def record_episode(
    policy_fn: PolicyFn,
    env_cfg: Mapping[str, Any],
    seed: int,
    path: str | Path,
    *,
    cameras: Mapping[str, Any] | None = None,
    horizon: int = 1,
) -> Path:
    """Run ``policy_fn`` (obs (B, obs_dim) -> actions (B, act_dim)) for one episode from reset
    seed ``seed`` and write its frames to the mp4 at ``path``, one per step, at the env's
    render_fps. Written beside and renamed into place: ``path`` is complete or absent. A policy
    that sees images gets the env with its ``cameras`` (its ``env.pixels`` arguments) and
    stacks of ``horizon`` frames, as in training."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with closing(_rendering_env(env_cfg, cameras or {})) as env:
            fps = env.metadata.get("render_fps") or 30
            with imageio.get_writer(partial, fps=fps) as writer:
                rollout(policy_fn, [_FrameWriter(env, writer)], [seed], horizon=horizon)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _rendering_env(env_cfg: Mapping[str, Any], cameras: Mapping[str, Any] | None = None) -> gym.Env:
    # MuJoCo reads MUJOCO_GL when it makes its first GL context, so here is early enough;
    # EGL renders headless (glfw, MuJoCo's default, needs a display).
    os.environ.setdefault("MUJOCO_GL", "egl")
    kwargs = {**env_cfg["kwargs"], **(cameras or {})}
    return gym.make(env_cfg["id"], render_mode="rgb_array", **kwargs)


class _FrameWriter(gym.Wrapper):
    """Appends the rendered frame to ``writer`` before each step: the state the action is for."""

    def __init__(self, env: gym.Env, writer) -> None:
        super().__init__(env)
        self.writer = writer

    def step(self, action):
        self.writer.append_data(self.env.render())
        return self.env.step(action)
