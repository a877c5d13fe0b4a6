"""The one expert signature every family (scripted controllers, SB3 models, zoo weights) adapts to.

An expert is a deterministic, batched function ``obs (B, obs_dim) -> action (B, act_dim)`` in the
env's own action units, plus the spaces it was built for. ``check_matches_env`` compares those
spaces with the env before any work is done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import gymnasium as gym
import numpy as np

from bcx.errors import BCXError


class Expert(ABC):
    """Batched deterministic expert. Subclasses set ``observation_space`` and ``action_space``."""

    observation_space: gym.spaces.Box
    action_space: gym.spaces.Box

    @abstractmethod
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Label states: obs (B, obs_dim) -> actions (B, act_dim), float, inside the bounds."""


def require_shapes(name: str, env: gym.Env, obs_shape: tuple[int, ...], act_shape: tuple[int, ...]):
    """Fail early, naming the expert, when an env's spaces are not the ones the expert serves."""
    env_obs, env_act = env.observation_space.shape, env.action_space.shape
    if env_obs != obs_shape or env_act != act_shape:
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise BCXError(
            f"expert '{name}' serves observations of shape {obs_shape} and actions of shape "
            f"{act_shape}, but env {env_id} has {env_obs} and {env_act}; choose an expert built "
            f"for this env (omit the 'expert=' override to use the env's default expert)."
        )


def check_matches_env(expert: Expert, env: gym.Env, name: str) -> None:
    """Raise BCXError if the expert's spaces differ from the env's (shape and bounds)."""
    require_shapes(name, env, expert.observation_space.shape, expert.action_space.shape)
    if not np.allclose(expert.action_space.low, env.action_space.low) or not np.allclose(
        expert.action_space.high, env.action_space.high
    ):
        raise BCXError(
            f"expert '{name}' acts within [{expert.action_space.low}, "
            f"{expert.action_space.high}] but the env's action bounds are "
            f"[{env.action_space.low}, {env.action_space.high}]; choose an expert built for "
            "this env."
        )
