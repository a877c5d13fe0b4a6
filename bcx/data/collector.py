"""Gathering labelled data: who drives the env, and the expert labels every visited state.

Every method of getting training data (plain demonstrations, DART's noisy expert, DAgger's mixed
learner/expert driver) is "run some behaviour policy, then ask the expert what it would have done
in each visited state". Labels are computed after the episodes, in one batched expert call, and
each labelled state counts as one expert label (``expert/labels``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from bcx.data.demos import Demonstrations
from bcx.experts.base import Expert
from bcx.progress import episode_bar
from bcx.rollout import PolicyFn, on_state, rollout
from bcx.types import Observation, state_of


class Collector:
    """Runs behaviour policies on fresh collection seeds and labels the states with the expert.

    Seeds are handed out in order from ``first_seed`` (the caller keeps them apart from the
    evaluation seeds), so a run that gathers the same rounds gets the same episodes.
    """

    def __init__(
        self,
        expert: Expert,
        envs: Sequence[gym.Env],
        first_seed: int,
        *,
        progress: bool = True,
        horizon: int = 1,
    ) -> None:
        """progress: show a bar while episodes run, when the console is a terminal; horizon:
        a learner that drives (DAgger) sees stacks of that many frames, as in training."""
        self.expert, self.envs, self.horizon = expert, list(envs), horizon
        self.next_seed = first_seed
        self.progress = progress
        self.action_space = envs[0].action_space
        self.timing = {"rollout": 0.0, "label": 0.0}  # wall seconds spent on each

    @property
    def seconds(self) -> float:
        return sum(self.timing.values())

    def take_seeds(self, count: int) -> list[int]:
        seeds = list(range(self.next_seed, self.next_seed + count))
        self.next_seed += count
        return seeds

    def episodes(self, driver: PolicyFn, count: int, *, kind: str = "episodes") -> Demonstrations:
        """``count`` episodes driven by ``driver`` (B, obs) -> (B, act), labelled by the expert;
        the progress bar reads "collecting <count> <kind>"."""
        demos = self._drive(driver, count, kind)
        return demos.relabel(self.label(demos.obs))

    def expert_episodes(self, count: int) -> Demonstrations:
        """``count`` episodes the expert drives itself: what it executed is its label."""
        return self._drive(on_state(self.expert), count, "expert episodes")

    def _drive(self, driver: PolicyFn, count: int, kind: str) -> Demonstrations:
        started = time.perf_counter()
        with episode_bar(f"collecting {count} {kind}", count, self.progress) as on_step:
            seeds = self.take_seeds(count)
            trajectories = rollout(driver, self.envs, seeds, on_step, self.horizon)
        self.timing["rollout"] += time.perf_counter() - started
        return Demonstrations.from_trajectories(trajectories)

    def label(self, obs: np.ndarray) -> np.ndarray:
        """The expert's actions for states (N, obs_dim) -> (N, act_dim) float32, one batch."""
        started = time.perf_counter()
        labels = np.asarray(self.expert(obs), dtype=np.float32)
        self.timing["label"] += time.perf_counter() - started
        return labels

    def noisy_expert(self, noise_cov: np.ndarray, seed: int) -> PolicyFn:
        """DART's driver: the expert's action plus Gaussian noise (covariance in env action
        units), clipped to the bounds. The recorded label stays the clean expert action."""
        rng = np.random.default_rng(seed)
        low, high = self.action_space.low, self.action_space.high

        def act(obs: Observation) -> np.ndarray:
            clean = on_state(self.expert)(obs)
            noise = rng.multivariate_normal(np.zeros(len(low)), noise_cov, size=len(clean))
            return np.clip(clean + noise, low, high)

        return act

    def mixture(self, learner: PolicyFn, beta: float, seed: int) -> PolicyFn:
        """DAgger's driver: per step and env, the expert's action with probability beta, the
        learner's otherwise."""
        rng = np.random.default_rng(seed)

        def act(obs: Observation) -> np.ndarray:
            actions = np.asarray(learner(obs), dtype=np.float64)
            if beta > 0:
                use_expert = rng.random(len(actions)) < beta
                if use_expert.any():
                    actions[use_expert] = self.expert(state_of(obs)[use_expert])
            return actions

        return act
