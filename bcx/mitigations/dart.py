"""DART (Laskey et al. 2017): noise injected into the expert while it demonstrates.

The expert's executed action gets Gaussian noise, so its episodes wander into the states a
learner's errors lead to, while each recorded label stays the expert's clean action. The noise is
fixed (``noise``: std as a fraction of half the action range) or, with ``fit: true``, fitted as in
DART: after each fit the learner's error covariance on the held-out states sets the noise of the
next collection, whose episodes join the data, for ``iterations`` fits in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.mitigations.base import Mitigation, require_int, require_number
from bcx.rollout import PolicyFn


class Dart(Mitigation):
    """The expert demonstrates with noisy actions; labels stay clean."""

    def __init__(
        self,
        *,
        env: gym.Env,
        noise: float = 0.2,
        fit: bool = False,
        iterations: int = 2,
        episodes_per_iteration: int | None = None,
        seed: int = 0,
    ) -> None:
        self.noise = require_number("noise", noise, 0.0)
        self.fit = bool(fit)
        self.rounds = require_int("iterations", iterations, 1) if self.fit else 1
        if episodes_per_iteration is not None:
            require_int("episodes_per_iteration", episodes_per_iteration, 1)
        self.episodes_per_iteration = episodes_per_iteration
        self.seed = seed
        half_range = (env.action_space.high - env.action_space.low) / 2
        self.initial_cov = np.diag((self.noise * half_range) ** 2)

    @classmethod
    def collection_episodes(cls, params: Mapping[str, Any], train_episodes: int) -> int:
        """With fit: true, each of iterations - 1 later collections adds episodes_per_iteration
        episodes or, when that is null, as many as the initial training episodes."""
        if not bool(cls.param(params, "fit")):
            return 0
        iterations = require_int("iterations", cls.param(params, "iterations"), 1)
        per_iteration = cls.param(params, "episodes_per_iteration")
        if per_iteration is not None:
            return (iterations - 1) * require_int("episodes_per_iteration", per_iteration, 1)
        return (iterations - 1) * train_episodes

    def collection_key(self) -> dict[str, Any]:
        return {"dart_noise": self.noise, "dart_seed": self.seed}

    def training_data(self, train: Demonstrations, collector: Collector) -> Demonstrations:
        self.initial_episodes = train.num_episodes  # what episodes_per_iteration: null means
        return train

    def demonstrations(self, collector: Collector, episodes: int) -> Demonstrations:
        driver = collector.noisy_expert(self.initial_cov, self.seed)
        return collector.episodes(driver, episodes, kind="noisy expert episodes")

    def next_round(
        self,
        round_index: int,
        train: Demonstrations,
        held_out: Demonstrations,
        learner: PolicyFn,
        collector: Collector,
    ) -> Demonstrations:
        # The learner sees the held-out frames as it sees its own: stacked as in its rollouts.
        errors = learner(held_out.observations(collector.horizon)) - held_out.actions
        cov = np.atleast_2d(np.cov(errors, rowvar=False))
        count = self.episodes_per_iteration or self.initial_episodes
        driver = collector.noisy_expert(cov, self.seed + round_index)
        kind = f"noisy expert episodes (round {round_index})"
        return train.concat(collector.episodes(driver, count, kind=kind))
