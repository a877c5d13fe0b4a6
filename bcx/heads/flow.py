"""Conditional flow matching: a velocity field carries Gaussian noise to actions.

Training regresses v(a_t, t, s) onto the straight-path velocity a - noise at
a_t = (1 - t) noise + t a; sampling integrates da/dt = v from t = 0 to 1 with Euler steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bcx.heads.base import clamp_to_bounds
from bcx.heads.generative import GenerativeHead


class FlowHead(GenerativeHead):
    """v(a_t, t, s) trained by flow matching; actions by ``steps`` Euler steps from noise."""

    def __init__(
        self, *, in_features: int, action_dim: int, steps: int = 8, hidden: int = 256
    ) -> None:
        super().__init__(in_features=in_features, action_dim=action_dim, steps=steps, hidden=hidden)
        self.register_buffer("sample_times", torch.arange(steps) / steps, persistent=False)

    def loss(self, features: Tensor, actions: Tensor) -> Tensor:
        """Velocity MSE at a uniform random time per row, mean over action dims: (B,)."""
        t = torch.rand(actions.shape[:1], device=features.device, dtype=actions.dtype)
        noise = torch.randn_like(actions)
        on_path = torch.lerp(noise, actions, t[:, None])
        velocity = self.net(on_path, self.net.context(features, t))
        return (velocity - (actions - noise)).square().mean(dim=-1)

    def sample(self, features: Tensor) -> Tensor:
        return self.integrate(features, self.fresh_noise(features))

    def mode(self, features: Tensor) -> Tensor:
        return self.integrate(features, self.fixed_noise(features))

    def integrate(self, features: Tensor, noise: Tensor) -> Tensor:
        """Euler from a_0 = noise (B, A) to a_1 (B, A), conditioned on features (B, F)."""
        contexts = self.net.context(features, self.sample_times[:, None])  # (S, B, H)
        x = noise
        for context in contexts:
            x = torch.add(x, self.net(x, context), alpha=1.0 / self.steps)
        return clamp_to_bounds(x)
