"""Diagonal Gaussian with a learned, state-dependent standard deviation."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from bcx.errors import BCXError
from bcx.heads.base import PolicyHead, clamp_to_bounds


class GaussianHead(PolicyHead):
    """N(mu(s), diag(sigma(s)^2)) with log sigma in [min_log_std, max_log_std]."""

    def __init__(
        self,
        *,
        in_features: int,
        action_dim: int,
        min_log_std: float = -5.0,
        max_log_std: float = 2.0,
    ) -> None:
        super().__init__(in_features=in_features, action_dim=action_dim)
        if not min_log_std < max_log_std:
            raise BCXError(
                f"policy.min_log_std must be smaller than policy.max_log_std "
                f"(got {min_log_std!r} and {max_log_std!r})."
            )
        self.mean = nn.Linear(in_features, action_dim)
        self.log_std = nn.Linear(in_features, action_dim)
        self.min_log_std = min_log_std
        self.max_log_std = max_log_std

    def distribution(self, features: Tensor) -> Independent:
        """The action distribution for a batch of features (B, F): batch (B,), event (A,)."""
        # A sigmoid squash keeps log sigma inside its bounds with a gradient everywhere,
        # unlike a hard clamp, so a confident head cannot drive the NLL to -inf.
        span = self.max_log_std - self.min_log_std
        log_std = self.min_log_std + span * torch.sigmoid(self.log_std(features))
        return Independent(Normal(self.mean(features), torch.exp(log_std), validate_args=False), 1)

    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        return self.distribution(features).log_prob(actions)

    def sample(self, features: Tensor) -> Tensor:
        return clamp_to_bounds(self.distribution(features).sample())

    def mode(self, features: Tensor) -> Tensor:
        return clamp_to_bounds(self.mean(features))
