"""The policy network: observation normalization -> encoder -> MLP trunk -> head, with action
scaling.

Normalization statistics are buffers, so they are saved in every checkpoint with the weights:
a loaded policy acts on raw env observations and returns actions in the env's own units.
An env may end its observations with privileged features for the expert only (its
``privileged_features``, e.g. the fork's hidden coin): the policy reads the first
``len(obs_mean)`` features and never the rest (none when it sees only images).

A policy that sees images reads one camera, ``image_key`` of a Dict observation (``pixels``: the
forward camera), shaped ``image_shape``; its encoder takes them. With ``horizon`` > 1 it reads
the last ``horizon`` frames (B, horizon, H, W, C), which its encoder takes as one image whose
channels are the frames' (B, H, W, horizon * C), as DQN stacks frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from bcx.data.tensors import TensorObservation, observation_tensors
from bcx.encoders.base import Encoder, ImageShape
from bcx.encoders.mlp import MLPEncoder
from bcx.heads.base import PolicyHead
from bcx.types import STATE, Observation, frames_of, state_of

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def mlp(in_features: int, hidden: Sequence[int], activation: str) -> nn.Sequential:
    """Hidden layers only; the head adds the output layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), ACTIVATIONS[activation]()]
        in_features = width
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """pi(a|s) over env actions. obs (B, obs_dim) raw, or a mapping of ``state`` and images;
    actions (B, act_dim) in env units."""

    def __init__(
        self,
        *,
        obs_mean: np.ndarray,
        obs_std: np.ndarray,
        action_low: np.ndarray,
        action_high: np.ndarray,
        hidden: Sequence[int],
        activation: str,
        head: Callable[..., PolicyHead],
        encoder: Callable[..., Encoder] = MLPEncoder,
        obs_std_min: float = 0.0,
        image_key: str | None = None,
        image_shape: ImageShape | None = None,
        horizon: int = 1,
    ) -> None:
        super().__init__()
        as_tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
        self.register_buffer("obs_mean", as_tensor(obs_mean))
        # Expert data can be nearly constant in a feature (a balanced pole): dividing by its
        # tiny std would turn any small deviation at test time into a huge input.
        self.register_buffer("obs_std", torch.clamp(as_tensor(obs_std), min=max(obs_std_min, 1e-6)))
        self.register_buffer("action_center", as_tensor((action_high + action_low) / 2))
        self.register_buffer("action_scale", as_tensor((action_high - action_low) / 2))
        self.image_key, self.horizon = image_key, horizon
        if image_shape is not None:  # saved with the weights: a loaded policy knows its camera
            self.register_buffer("image_shape", torch.tensor(image_shape))
            height, width, channels = image_shape  # a stack of frames is one image of T*C
            image_shape = (height, width, channels * horizon)
        self.encoder = encoder(state_dim=len(obs_mean), image_shape=image_shape)
        self.trunk = mlp(self.encoder.out_features, hidden, activation)
        width = hidden[-1] if hidden else self.encoder.out_features
        self.head = head(in_features=width, action_dim=len(action_low))

    def features(self, obs: TensorObservation) -> Tensor:
        """Normalized observations through the encoder and the trunk: (B, obs_dim) or a mapping
        with images -> (B, F); features past the learner's (privileged ones) are dropped."""
        state = obs[STATE] if isinstance(obs, dict) else obs
        seen = (state[..., : self.obs_mean.shape[0]] - self.obs_mean) / self.obs_std
        images = obs[self.image_key] if self.image_key is not None else None
        if images is not None and self.horizon > 1:  # (B, T, H, W, C) -> (B, H, W, T * C)
            images = images.movedim(1, 3).flatten(3)
        return self.trunk(self.encoder(seen, images))

    def normalize_action(self, actions: Tensor) -> Tensor:
        """Env units -> [-1, 1]^A."""
        return (actions - self.action_center) / self.action_scale

    def denormalize_action(self, actions: Tensor) -> Tensor:
        """[-1, 1]^A -> env units."""
        return actions * self.action_scale + self.action_center

    def loss(self, obs: TensorObservation, actions: Tensor) -> Tensor:
        """Per-sample head loss (the NLL of normalized actions for density heads): (B,)."""
        return self.head.loss(self.features(obs), self.normalize_action(actions))

    def loss_and_error(self, obs: TensorObservation, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample head loss and the mean over action dims of (mode - expert)^2 in normalized
        units, from one pass of the trunk: ((B,), (B,))."""
        features, target = self.features(obs), self.normalize_action(actions)
        loss = self.head.loss(features, target)
        return loss, ((self.head.mode(features) - target) ** 2).mean(dim=-1)

    def numpy_fn(self, deterministic: bool = True) -> Callable[[np.ndarray], np.ndarray]:
        """This policy as a batch function on numpy arrays, for rollouts: obs (B, obs_dim) or a
        Dict env's batch -> actions (B, act_dim), computed on the policy's device."""

        def act(obs: Observation) -> np.ndarray:
            device = self.obs_mean.device
            tensors = observation_tensors(state_of(obs), self.seen_frames(obs), device)
            return self.act(tensors, deterministic).cpu().numpy()

        return act

    def seen_frames(self, obs: Observation) -> dict[str, np.ndarray]:
        """The images of ``obs`` this policy reads (its camera's), by key; none for a state
        policy."""
        frames = frames_of(obs)
        return {self.image_key: frames[self.image_key]} if self.image_key is not None else {}

    @torch.no_grad()
    def act(self, obs: TensorObservation, deterministic: bool = True) -> Tensor:
        """Actions in env units for raw observations: (B, obs_dim) -> (B, act_dim)."""
        features = self.features(obs)
        normalized = self.head.mode(features) if deterministic else self.head.sample(features)
        return self.denormalize_action(normalized)
