"""Per-dimension discretized actions (RT-1 style): an independent softmax over uniform bins.

The log-probability is reported as a density, log(P(bin) / bin width) summed over dimensions,
so its NLL is on the same scale as the continuous heads' and the metrics stay comparable.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Categorical

from bcx.heads.base import PolicyHead, clamp_to_bounds, require_count


class DiscreteHead(PolicyHead):
    """prod_d Categorical(softmax(logits_d(s))) over ``bins`` equal bins of [-1, 1] per dim."""

    def __init__(self, *, in_features: int, action_dim: int, bins: int = 21) -> None:
        super().__init__(in_features=in_features, action_dim=action_dim)
        require_count("bins", bins, 2)
        self.bins = bins
        self.bin_width = 2.0 / bins
        self.logits = nn.Linear(in_features, action_dim * bins)
        self.register_buffer("inner_edges", torch.linspace(-1, 1, bins + 1)[1:-1], persistent=False)

    def bin_logits(self, features: Tensor) -> Tensor:
        """Unnormalized bin scores: (B, F) -> (B, A, bins)."""
        return self.logits(features).unflatten(-1, (self.action_dim, self.bins))

    def distribution(self, features: Tensor) -> Categorical:
        """Bin distribution for features (B, F): batch (B, A), support {0, ..., bins - 1}."""
        return Categorical(logits=self.bin_logits(features), validate_args=False)

    def bin_index(self, actions: Tensor) -> Tensor:
        """The bin of each action, bins being [lo, hi) and 1 in the last: (B, A) -> (B, A)."""
        return torch.bucketize(actions, self.inner_edges, right=True)

    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        # Equal to distribution(features).log_prob(bin_index).sum(-1), but Categorical
        # normalizes with logsumexp, whose backward made the training step ~1.25x the Gaussian
        # head's; the fused log_softmax keeps it near 1.1x.
        index = self.bin_index(actions)
        log_mass = self.bin_logits(features).log_softmax(-1).gather(-1, index[..., None])
        density = log_mass.squeeze(-1).sum(-1) - self.action_dim * math.log(self.bin_width)
        # Binning would quietly put a NaN/inf action into a valid bin; keep its log-density
        # non-finite so bcx's finite-loss check reports the bad data, as for the other heads.
        return torch.where(torch.isfinite(actions).all(-1), density, torch.nan)

    def sample(self, features: Tensor) -> Tensor:
        """A bin per dimension, then a uniform point inside it: (B, F) -> (B, A)."""
        index = self.distribution(features).sample()
        offset = torch.rand(index.shape, device=features.device, dtype=features.dtype)
        return clamp_to_bounds((index + offset) * self.bin_width - 1.0)

    def mode(self, features: Tensor) -> Tensor:
        """Centre of the most probable bin per dimension: (B, F) -> (B, A)."""
        index = self.bin_logits(features).argmax(dim=-1)
        return clamp_to_bounds((index + 0.5) * self.bin_width - 1.0)
