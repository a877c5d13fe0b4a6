"""Plain containers passed between rollout, data and callbacks (numpy, no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

STATE = "state"
"""The key of the state vector in a Dict observation; images are ``pixels`` (the forward camera)
and ``pixels/<camera>``."""

Observation = np.ndarray | Mapping[str, np.ndarray]
"""One observation or a batch of them: the state array, or a Dict env's mapping of ``state``
(float32, ending with any privileged features) and image arrays (uint8, H x W x 3 each)."""


def state_of(obs: Observation) -> np.ndarray:
    """The state part of an observation (the whole of it for a Box env): what experts read."""
    return obs[STATE] if isinstance(obs, Mapping) else obs


def frames_of(obs: Observation) -> dict[str, np.ndarray]:
    """The image parts of an observation, by key; none for a Box env."""
    return {k: v for k, v in obs.items() if k != STATE} if isinstance(obs, Mapping) else {}


def stack(observations: Sequence[Observation]) -> Observation:
    """Single observations -> one batch, key by key for Dict observations."""
    first = observations[0]
    if isinstance(first, Mapping):
        return {key: np.stack([o[key] for o in observations]) for key in first}
    return np.stack(observations)


OUTCOMES = ("success", "collision")
"""Episode-level info flags an env may report; each becomes a ``rollout/<flag>`` rate."""


@dataclass(frozen=True)
class Trajectory:
    """One episode. obs (T, obs_dim): the states acted in; actions (T, act_dim): what was
    executed there; rewards (T,). outcomes: the env's final boolean ``info`` flags among
    ``OUTCOMES`` (e.g. success, collision), only those the env reports. final_obs (obs_dim,):
    the state after the last action; terminated: the episode ended in a terminal state (False:
    truncated by the time limit). Both are what dataset formats such as Minari record. frames:
    a Dict env's images at the states acted in, by key, (T, H, W, 3) uint8 each; obs holds its
    ``state``."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    outcomes: dict[str, bool]
    final_obs: np.ndarray | None = None
    terminated: bool = False
    frames: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)
