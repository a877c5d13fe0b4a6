"""The one expert signature every family (scripted controllers, SB3 models, zoo weights) adapts to.

An expert is a deterministic, batched function ``obs (B, obs_dim) -> action (B, act_dim)`` in the
env's own action units, plus the spaces it was built for: its own, never copied from the env it
is given (a trained model's spaces, the widths and bounds a controller's equations assume).
``check_matches_env`` compares those with the env's before any work is done, so an expert on the
wrong env (a Reacher controller on InvertedPendulum, a model trained on another env) stops with
one line naming both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import gymnasium as gym
import numpy as np

from bcx.envs import state_space
from bcx.errors import BCXError


class Expert(ABC):
    """Batched deterministic expert. Subclasses set ``observation_space`` and ``action_space``
    to the spaces the expert serves (``box`` builds one from a shape and bounds), not to the
    env's: the app compares the two (``check_matches_env``), and a copy of the env's would
    match any env."""

    observation_space: gym.spaces.Box
    action_space: gym.spaces.Box

    @abstractmethod
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Label states: obs (B, obs_dim) -> actions (B, act_dim), float, inside the bounds."""


def box(
    shape: tuple[int, ...], low: float | np.ndarray = -np.inf, high: float | np.ndarray = np.inf
) -> gym.spaces.Box:
    """The space an expert serves: ``shape`` within ``[low, high]`` (scalars or arrays)."""
    return gym.spaces.Box(
        np.broadcast_to(np.asarray(low, dtype=np.float64), shape),
        np.broadcast_to(np.asarray(high, dtype=np.float64), shape),
        dtype=np.float64,
    )


def check_matches_env(expert: Expert, env: gym.Env, name: str) -> None:
    """Raise BCXError, in one line naming the expert, the env and both spaces, unless the
    expert's observation and action shapes and its action bounds are the env's."""
    obs, act = (getattr(expert, key, None) for key in ("observation_space", "action_space"))
    if not (isinstance(obs, gym.spaces.Box) and isinstance(act, gym.spaces.Box)):
        raise BCXError(
            f"expert '{name}' ({type(expert).__name__}) must set observation_space and "
            "action_space to the Box spaces it serves (bcx.experts.base.box(shape, low, high)); "
            f"it has {obs!r} and {act!r}."
        )
    env_obs, env_act = state_space(env), env.action_space
    env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    if (obs.shape, act.shape) != (env_obs.shape, env_act.shape):
        raise BCXError(
            f"expert '{name}' serves observations of shape {obs.shape} and actions of shape "
            f"{act.shape}, but env {env_id} has {env_obs.shape} and {env_act.shape}; choose an "
            "expert built for this env (omit the 'expert=' override to use the env's default "
            "expert)."
        )
    if isinstance(env_act, gym.spaces.Box) and not (
        np.allclose(act.low, env_act.low) and np.allclose(act.high, env_act.high)
    ):
        raise BCXError(
            f"expert '{name}' acts within {_bounds(act)} but env {env_id}'s action bounds are "
            f"{_bounds(env_act)}; choose an expert built for this env (or one trained behind "
            "the same action-rescaling wrapper)."
        )


def _bounds(space: gym.spaces.Box) -> str:
    """``<low> to <high>`` on one line, however many dimensions."""
    low, high = (
        np.array2string(np.asarray(b), separator=" ", max_line_width=10**9)
        for b in (space.low, space.high)
    )
    return f"{low} to {high}"
