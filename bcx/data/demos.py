"""Expert demonstrations as flat arrays with episode boundaries, and how they are collected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import gymnasium as gym
import numpy as np

from bcx.experts.base import Expert
from bcx.rollout import on_state, rollout
from bcx.types import STATE, Observation, Trajectory


@dataclass(frozen=True)
class Demonstrations:
    """State-action pairs labelled by the expert.

    obs (N, obs_dim) float32: the states (what the expert reads), actions (N, act_dim) float32
    (the expert's labels), episode_lengths (E,) int64 with sum N, returns (E,) float64. frames: a
    Dict env's images of the same N states, by key (``pixels``, ``pixels/<camera>``), (N, H, W,
    3) uint8 each, stored once: slices of them are views, never copies. Loaded from the demo
    cache, they stay in the file (``DiskRows``) and are read by rows as they are used.
    """

    obs: np.ndarray
    actions: np.ndarray
    episode_lengths: np.ndarray
    returns: np.ndarray
    frames: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_trajectories(cls, trajectories: Sequence[Trajectory]) -> Demonstrations:
        return cls(
            obs=np.concatenate([t.obs for t in trajectories]),
            actions=np.concatenate([t.actions for t in trajectories]),
            episode_lengths=np.array([len(t) for t in trajectories], dtype=np.int64),
            returns=np.array([t.episode_return for t in trajectories], dtype=np.float64),
            frames=_joined([t.frames for t in trajectories]),
        )

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Demonstrations:
        """The inverse of ``as_arrays``."""
        frames = {k.removeprefix(FRAMES): v for k, v in arrays.items() if k.startswith(FRAMES)}
        rest = {k: v for k, v in arrays.items() if not k.startswith(FRAMES)}
        return cls(**rest, frames=frames)

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
            frames={key: images[rows] for key, images in self.frames.items()},
        )

    def split(self, val_episodes: int) -> tuple[Demonstrations, Demonstrations]:
        """(train, validation), split by whole episodes: the last ``val_episodes`` validate."""
        cut = self.num_episodes - val_episodes
        return self.episodes(0, cut), self.episodes(cut, self.num_episodes)

    def observations(self, horizon: int = 1) -> Observation:
        """The states as a policy sees them: obs, or with images a mapping of ``state`` and
        each image key's frames, stacked ``horizon`` deep (``stacked_frames``)."""
        if not self.frames:
            return self.obs
        rows = np.arange(len(self))
        stacks = {key: self.stacked_frames(key, horizon, rows) for key in self.frames}
        return {STATE: self.obs, **stacks}

    def stacked_frames(self, key: str, horizon: int, rows: np.ndarray | slice) -> np.ndarray:
        """The images of ``key`` at ``rows`` (N',), as the policy sees them: with horizon 1
        (N', H, W, C), else the last ``horizon`` frames of each row's episode, oldest first,
        padded with the episode's first frame: (N', horizon, H, W, C), gathered by index."""
        if horizon == 1:
            return np.asarray(self.frames[key][rows])  # rows of frames left in a file are read
        return self.frames[key][stack_index(self.episode_lengths, horizon)[rows]]

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
            frames=_joined([self.frames, other.frames]),
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
            frames={key: images[:count] for key, images in self.frames.items()},
        )

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array, as the demo cache stores them (images as ``frames/<key>``)."""
        return {
            "obs": self.obs,
            "actions": self.actions,
            "episode_lengths": self.episode_lengths,
            "returns": self.returns,
            **{FRAMES + key: images for key, images in self.frames.items()},
        }


FRAMES = "frames/"  # the prefix of image arrays in as_arrays


def stack_index(episode_lengths: np.ndarray, horizon: int) -> np.ndarray:
    """For each of N rows (episodes back to back), the rows of its last ``horizon`` frames,
    oldest first, never before its episode's first row: (N, horizon) int64."""
    lengths = np.asarray(episode_lengths, dtype=np.int64)
    first_row = np.repeat(np.cumsum(lengths) - lengths, lengths)
    back = np.arange(horizon - 1, -1, -1)
    return np.maximum(np.arange(len(first_row))[:, None] - back, first_row[:, None])


def _joined(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-key concatenation of image arrays (a Box env's parts have none). Every part must
    have the same keys: states without their images would be trained on without them."""
    keys = [sorted(part) for part in parts]
    if any(k != keys[0] for k in keys):
        raise ValueError(f"cannot join demonstrations with different images: keys {keys}")
    return {key: np.concatenate([part[key] for part in parts]) for key in keys[0]} if parts else {}


def collect(expert: Expert, envs: Sequence[gym.Env], seeds: Sequence[int]) -> Demonstrations:
    """One expert episode per seed, batched over ``envs``."""
    return Demonstrations.from_trajectories(rollout(on_state(expert), envs, seeds))
