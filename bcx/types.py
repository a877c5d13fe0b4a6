"""Plain containers passed between rollout, data and callbacks (numpy, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTCOMES = ("success", "collision")
"""Episode-level info flags an env may report; each becomes a ``rollout/<flag>`` rate."""


@dataclass(frozen=True)
class Trajectory:
    """One episode. obs (T, obs_dim): the states acted in; actions (T, act_dim): what was
    executed there; rewards (T,). outcomes: the env's final boolean ``info`` flags among
    ``OUTCOMES`` (e.g. success, collision), only those the env reports. final_obs (obs_dim,):
    the state after the last action; terminated: the episode ended in a terminal state (False:
    truncated by the time limit). Both are what dataset formats such as Minari record."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    outcomes: dict[str, bool]
    final_obs: np.ndarray | None = None
    terminated: bool = False

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)
