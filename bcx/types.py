"""Plain containers passed between rollout, data and callbacks (numpy, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """One episode. obs (T, obs_dim): the states acted in; actions (T, act_dim): what was
    executed there; rewards (T,). success is None where the env does not define it."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    success: bool | None

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)
