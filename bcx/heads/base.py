"""The head contract: trunk features -> a distribution over normalized actions in [-1, 1]^A.

Every head is trained by the same LightningModule through ``loss``. For heads with a tractable
density ``loss`` is the negative log-likelihood; a head without one (e.g. diffusion) sets
``has_density = False`` and returns the loss it trains on, so on-policy vs dataset comparisons
stay defined for every head.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from bcx.errors import BCXError


class PolicyHead(nn.Module, ABC):
    """Output distribution of a policy. Shapes: features (B, F), actions (B, A) in [-1, 1]."""

    has_density: bool = True

    def __init__(self, *, in_features: int, action_dim: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.action_dim = action_dim

    @abstractmethod
    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        """Log-density of normalized actions: (B, F), (B, A) -> (B,)."""

    @abstractmethod
    def sample(self, features: Tensor) -> Tensor:
        """A random action per row, inside [-1, 1]: (B, F) -> (B, A)."""

    @abstractmethod
    def mode(self, features: Tensor) -> Tensor:
        """The most likely action per row, inside [-1, 1]: (B, F) -> (B, A)."""

    def loss(self, features: Tensor, actions: Tensor) -> Tensor:
        """Per-sample training loss (B,): the NLL for heads with a density."""
        return -self.log_prob(features, actions)


def clamp_to_bounds(actions: Tensor) -> Tensor:
    """Keep actions inside the normalized action box [-1, 1]."""
    return torch.clamp(actions, -1.0, 1.0)


def require_count(key: str, value: object, minimum: int) -> None:
    """Raise a BCXError naming ``policy.<key>`` unless value is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BCXError(f"policy.{key} must be an integer >= {minimum} (got {value!r}).")
