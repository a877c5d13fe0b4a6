"""Expert demonstrations as flat arrays with episode boundaries, and how they are collected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np

from bcx.experts.base import Expert
from bcx.rollout import rollout
from bcx.types import Trajectory


@dataclass(frozen=True)
class Demonstrations:
    """State-action pairs labelled by the expert.

    obs (N, obs_dim) float32, actions (N, act_dim) float32 (the expert's labels),
    episode_lengths (E,) int64 with sum N, returns (E,) float64.
    """

    obs: np.ndarray
    actions: np.ndarray
    episode_lengths: np.ndarray
    returns: np.ndarray

    @classmethod
    def from_trajectories(cls, trajectories: Sequence[Trajectory]) -> Demonstrations:
        return cls(
            obs=np.concatenate([t.obs for t in trajectories]),
            actions=np.concatenate([t.actions for t in trajectories]),
            episode_lengths=np.array([len(t) for t in trajectories], dtype=np.int64),
            returns=np.array([t.episode_return for t in trajectories], dtype=np.float64),
        )

    @property
    def num_episodes(self) -> int:
        return len(self.episode_lengths)

    def __len__(self) -> int:
        return len(self.obs)

    def episodes(self, start: int, stop: int) -> Demonstrations:
        """Episodes [start, stop) as a new Demonstrations."""
        bounds = np.concatenate([[0], np.cumsum(self.episode_lengths)])
        rows = slice(bounds[start], bounds[stop])
        return Demonstrations(
            obs=self.obs[rows],
            actions=self.actions[rows],
            episode_lengths=self.episode_lengths[start:stop],
            returns=self.returns[start:stop],
        )

    def split(self, val_episodes: int) -> tuple[Demonstrations, Demonstrations]:
        """(train, validation), split by whole episodes: the last ``val_episodes`` validate."""
        cut = self.num_episodes - val_episodes
        return self.episodes(0, cut), self.episodes(cut, self.num_episodes)

    def relabel(self, actions: np.ndarray) -> Demonstrations:
        """The same states with new action labels (N, act_dim)."""
        return replace(self, actions=np.asarray(actions, dtype=np.float32))

    def concat(self, other: Demonstrations) -> Demonstrations:
        """This data followed by ``other``'s episodes (DAgger's aggregation)."""
        return Demonstrations(
            obs=np.concatenate([self.obs, other.obs]),
            actions=np.concatenate([self.actions, other.actions]),
            episode_lengths=np.concatenate([self.episode_lengths, other.episode_lengths]),
            returns=np.concatenate([self.returns, other.returns]),
        )

    def first_pairs(self, count: int) -> Demonstrations:
        """The first ``count`` pairs, the episode they end in cut short."""
        if count >= len(self):
            return self
        ends = np.cumsum(self.episode_lengths)
        last = int(np.searchsorted(ends, count))  # index of the episode the cut falls in
        lengths = self.episode_lengths[: last + 1].copy()
        lengths[-1] -= ends[last] - count
        return Demonstrations(
            obs=self.obs[:count],
            actions=self.actions[:count],
            episode_lengths=lengths,
            returns=self.returns[: last + 1],
        )

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "obs": self.obs,
            "actions": self.actions,
            "episode_lengths": self.episode_lengths,
            "returns": self.returns,
        }


def collect(expert: Expert, envs: Sequence[gym.Env], seeds: Sequence[int]) -> Demonstrations:
    """One expert episode per seed, batched over ``envs``."""
    return Demonstrations.from_trajectories(rollout(expert, envs, seeds))
