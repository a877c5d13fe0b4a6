"""Data augmentation with corrective labels (ALVINN, NVIDIA's DAVE-2).

Each training state is perturbed ``copies`` times and the expert labels the perturbed states, so
the data shows how to steer back from states the expert itself never visits. With
``method=domain`` the env perturbs its own state in physically meaningful ways (``lane``: shift
the car sideways, rotate it); ``method=noisy_relabel`` is the generic fallback for any env with a
queryable expert: Gaussian noise on every observation feature, then the expert's label.
``method=auto`` takes the env's own perturbation where it has one, else noisy relabelling, and
logs which.

A learner that sees camera images needs perturbed images too, from an env that can move its
camera (``ViewAugmenter``; ``lane``):

- ``method=viewpoint``: NVIDIA's scheme (Bojarski et al. 2016). Each recorded frame is warped to
  the view from the car shifted and rotated (a homography of the flat ground), and labelled with
  the steering that brings the car back to the centre line and its heading in 2 s: no expert is
  asked.
- ``method=rerender``: the same perturbed poses rendered exactly by the env and labelled by the
  expert: the upper bound of the warp (bcx owns the simulator); the difference between the two is
  the cost of the warp's artifacts and of the rule-based label.
- ``method=cameras``: NVIDIA's three cameras. The left and right cameras' frames recorded beside
  the forward one (``env.pixels.cameras=[center,left,right]``) train the forward-camera learner
  as the views of a car shifted sideways by the camera's offset, with the corrective label.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

import gymnasium as gym
import numpy as np

from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.envs import learner_features, state_space
from bcx.errors import BCXError
from bcx.mitigations.base import Mitigation, require_int, require_number

log = logging.getLogger("bcx")
STATE_METHODS = ("domain", "noisy_relabel")
IMAGE_METHODS = ("viewpoint", "rerender", "cameras")
METHODS = ("auto", *STATE_METHODS, *IMAGE_METHODS)
SIDE_CAMERAS = ("left", "right")


class DomainAugmenter(Protocol):
    """What an env offers for ``method=domain``: perturbed copies of observations (N, obs_dim),
    ``scale`` times its documented perturbation size, drawn from ``rng``."""

    def perturb_observations(
        self, obs: np.ndarray, rng: np.random.Generator, scale: float
    ) -> np.ndarray: ...


class ViewAugmenter(Protocol):
    """What an env offers for the image methods: poses to move its car to, the states there,
    their corrective labels, and exact renders (``bcx.envs.lane.LaneEnv`` documents each)."""

    def view_perturbations(
        self, states: np.ndarray, rng: np.random.Generator, scale: float
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def moved_states(
        self, states: np.ndarray, shift: np.ndarray, rotation: np.ndarray
    ) -> np.ndarray: ...

    def corrective_actions(self, states: np.ndarray) -> np.ndarray: ...

    def render_state(
        self, state: np.ndarray, camera: str, shift: float, rotation: float
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
        self.bounds = state_space(env)
        self.images = camera_keys(env)
        has_domain = hasattr(self.env, "perturb_observations")
        if method == "auto":
            method = "domain" if has_domain else "noisy_relabel"
            method = "viewpoint" if self.images else method
            log.info("mitigation=augment: method=auto chose %s for %s", method, env.spec.id)
        self.method, self.seed = method, seed
        self._check_images(method)
        if method == "domain" and not has_domain:
            raise BCXError(
                f"mitigation=augment with method=domain needs an env that perturbs its own states "
                f"(perturb_observations), and {type(self.env).__name__} has none; use "
                "mitigation.method=noisy_relabel (Gaussian state noise labelled by the expert) "
                "or another mitigation."
            )

    def _check_images(self, method: str) -> None:
        """The method fits what the learner sees: images need an image method, on an env that
        moves its camera (and records side cameras for method=cameras)."""
        name = type(self.env).__name__
        if self.images and method in STATE_METHODS:
            raise BCXError(
                f"mitigation.method={method} perturbs states, but the learner sees camera images; "
                f"use one of {', '.join(IMAGE_METHODS)}."
            )
        if method in IMAGE_METHODS and not self.images:
            raise BCXError(
                f"mitigation.method={method} perturbs camera images, but the learner sees none; "
                f"add a camera to obs.keys (obs.keys=[pixels]) or use {' or '.join(STATE_METHODS)}."
            )
        if method in IMAGE_METHODS and not hasattr(self.env, "view_perturbations"):
            raise BCXError(
                f"mitigation.method={method} needs an env that can move its camera "
                f"(view_perturbations, as lane has), and {name} has none."
            )
        sides = [f"pixels/{side}" for side in SIDE_CAMERAS]
        if method == "cameras" and not set(sides) <= set(self.images):
            raise BCXError(
                "mitigation.method=cameras trains on the side cameras' frames, so the env must "
                "record them: env.pixels.cameras=[center,left,right]."
            )

    def training_data(self, train: Demonstrations, collector: Collector) -> Demonstrations:
        if self.method in IMAGE_METHODS:
            return self._image_copies(train, collector)
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

    def _image_copies(self, train: Demonstrations, collector: Collector) -> Demonstrations:
        """``train`` and its image-method copies (the forward camera's frames only, for
        method=cameras: the side cameras' frames become forward-camera training frames)."""
        env: ViewAugmenter = self.env  # checked in __init__
        if self.method == "cameras":
            forward = replace(train, frames={"pixels": train.frames["pixels"]})
            return forward.concat(_side_views(env, train))
        rng, copies = np.random.default_rng(self.seed), [train]
        for _ in range(self.copies):
            shift, rotation = env.view_perturbations(train.obs, rng, self.scale)
            moved = env.moved_states(train.obs, shift, rotation)
            if self.method == "viewpoint":
                frames = _warped(train.frames, shift, rotation)
                labels = env.corrective_actions(moved)
            else:
                frames = _rendered(env, train, shift, rotation)
                labels = collector.label(moved)
            copies.append(_labelled_copy(train, moved, labels, frames))
        return _concatenated(copies)


def camera_keys(env: gym.Env) -> tuple[str, ...]:
    """The image keys of the env's observation (none for a Box env)."""
    space = env.observation_space
    keys = space.spaces if isinstance(space, gym.spaces.Dict) else {}
    return tuple(key for key in keys if key.startswith("pixels"))


def camera_of(key: str) -> str:
    """The camera whose frames an observation key holds: pixels -> center, pixels/x -> x."""
    return "center" if key == "pixels" else key.removeprefix("pixels/")


def _warped(frames, shift: np.ndarray, rotation: np.ndarray) -> dict[str, np.ndarray]:
    from bcx.envs.lane_camera import synthesize_view

    return {k: synthesize_view(v, camera_of(k), shift, rotation) for k, v in frames.items()}


def _rendered(env: ViewAugmenter, train: Demonstrations, shift, rotation) -> dict:
    return {
        key: np.stack(
            [
                env.render_state(state, camera_of(key), float(dx), float(dpsi))
                for state, dx, dpsi in zip(train.obs, shift, rotation, strict=True)
            ]
        )
        for key in train.frames
    }


def _side_views(env: ViewAugmenter, train: Demonstrations) -> Demonstrations:
    """The side cameras' frames as forward-camera frames of the car moved by their offsets,
    with the corrective labels."""
    from bcx.envs.lane_camera import CAMERAS

    copies = []
    for side in SIDE_CAMERAS:
        shift = np.full(len(train), CAMERAS[side].lateral)
        moved = env.moved_states(train.obs, shift, np.zeros(len(train)))
        frames = {"pixels": train.frames[f"pixels/{side}"]}
        copies.append(_labelled_copy(train, moved, env.corrective_actions(moved), frames))
    return _concatenated(copies)


def _labelled_copy(train: Demonstrations, states, labels, frames) -> Demonstrations:
    """A copy of ``train``'s episodes with new states, labels and frames; nobody drove it."""
    return Demonstrations(
        obs=np.asarray(states, dtype=np.float32),
        actions=np.asarray(labels, dtype=np.float32),
        episode_lengths=train.episode_lengths,
        returns=np.full(train.num_episodes, np.nan),
        frames=frames,
    )


def _concatenated(parts: list[Demonstrations]) -> Demonstrations:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.concat(part)
    return joined
