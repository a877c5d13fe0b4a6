"""Data augmentation with corrective labels (ALVINN, NVIDIA's DAVE-2).

Each training state is perturbed ``copies`` times and the expert labels the perturbed states, so
the data shows how to steer back from states the expert itself never visits. With
``method=domain`` the env perturbs its own state in physically meaningful ways (``lane``: shift
the car sideways, rotate it); ``method=noisy_relabel`` is the generic fallback for any env with a
queryable expert: Gaussian noise on every observation feature, then the expert's label.
``method=auto`` takes the env's own perturbation where it has one, else noisy relabelling, and
logs which.
"""

from __future__ import annotations

import logging
from typing import Protocol

import gymnasium as gym
import numpy as np

from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.envs import learner_features
from bcx.errors import BCXError
from bcx.mitigations.base import Mitigation, require_int, require_number

log = logging.getLogger("bcx")
METHODS = ("auto", "domain", "noisy_relabel")


class DomainAugmenter(Protocol):
    """What an env offers for ``method=domain``: perturbed copies of observations (N, obs_dim),
    ``scale`` times its documented perturbation size, drawn from ``rng``."""

    def perturb_observations(
        self, obs: np.ndarray, rng: np.random.Generator, scale: float
    ) -> np.ndarray: ...


class Augment(Mitigation):
    """Adds ``copies`` perturbed, expert-labelled copies of every training state."""

    def __init__(
        self,
        *,
        env: gym.Env,
        method: str = "auto",
        scale: float = 1.0,
        copies: int = 2,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise BCXError(
                f"mitigation.method must be one of {', '.join(METHODS)} (got {method!r})."
            )
        self.copies = require_int("copies", copies, 1)
        self.scale = require_number("scale", scale, 0.0)
        self.env = env.unwrapped
        self.learner_width = learner_features(env)
        self.bounds = env.observation_space
        has_domain = hasattr(self.env, "perturb_observations")
        if method == "auto":
            method = "domain" if has_domain else "noisy_relabel"
            log.info("mitigation=augment: method=auto chose %s for %s", method, env.spec.id)
        self.method, self.seed = method, seed
        if method == "domain" and not has_domain:
            raise BCXError(
                f"mitigation=augment with method=domain needs an env that perturbs its own states "
                f"(perturb_observations), and {type(self.env).__name__} has none; use "
                "mitigation.method=noisy_relabel (Gaussian state noise labelled by the expert) "
                "or another mitigation."
            )

    def training_data(self, train: Demonstrations, collector: Collector) -> Demonstrations:
        rng = np.random.default_rng(self.seed)
        originals = np.tile(train.obs, (self.copies, 1))  # copy k of every episode, in order
        perturbed = np.clip(self.perturb(originals, train, rng), self.bounds.low, self.bounds.high)
        extra = Demonstrations(
            obs=perturbed.astype(np.float32),
            actions=collector.label(perturbed),
            episode_lengths=np.tile(train.episode_lengths, self.copies),
            returns=np.full(self.copies * train.num_episodes, np.nan),  # nobody drove these
        )
        return train.concat(extra)

    def perturb(
        self, obs: np.ndarray, train: Demonstrations, rng: np.random.Generator
    ) -> np.ndarray:
        """Perturbed copies of obs (N, obs_dim) by the chosen method."""
        if self.method == "domain":
            augmenter: DomainAugmenter = self.env  # checked in __init__
            return augmenter.perturb_observations(obs, rng, self.scale)
        # Privileged features (hidden state such as the fork's coin) are the expert's to read,
        # not part of the state a learner could drift in: they stay as recorded.
        feature_std = train.obs.std(axis=0)
        feature_std[self.learner_width :] = 0.0
        return obs + rng.standard_normal(obs.shape) * self.scale * feature_std
