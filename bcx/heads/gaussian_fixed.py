"""Gaussian with a fixed unit standard deviation: its NLL is 0.5 * squared error + a constant.

This is the lecture's eq. 4-6: maximum likelihood under sigma = 1 is least-squares regression.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from bcx.heads.base import PolicyHead, clamp_to_bounds


class GaussianFixedHead(PolicyHead):
    """N(mu(s), I): only the mean is learned."""

    def __init__(self, *, in_features: int, action_dim: int) -> None:
        super().__init__(in_features=in_features, action_dim=action_dim)
        self.mean = nn.Linear(in_features, action_dim)

    def distribution(self, features: Tensor) -> Independent:
        """The action distribution for features (B, F): batch (B,), event (A,)."""
        mean = self.mean(features)
        return Independent(Normal(mean, torch.ones_like(mean), validate_args=False), 1)

    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        return self.distribution(features).log_prob(actions)

    def sample(self, features: Tensor) -> Tensor:
        return clamp_to_bounds(self.distribution(features).sample())

    def mode(self, features: Tensor) -> Tensor:
        return clamp_to_bounds(self.mean(features))
