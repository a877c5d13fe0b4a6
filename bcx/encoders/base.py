"""The encoder contract: what the learner sees -> one feature vector (B, out_features).

The policy normalizes the state features before they reach the encoder; an encoder that reads
images normalizes (and, in training only, augments) them itself. The MLP trunk and the head that
follow are the same for every encoder, so a head never knows what the learner sees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn


class Encoder(nn.Module, ABC):
    """Built with the sizes of what it reads (``state_dim``: the learner's state features,
    normalized); ``out_features`` is the width of what it returns."""

    def __init__(self, *, state_dim: int) -> None:
        super().__init__()
        self.state_dim = state_dim

    @property
    @abstractmethod
    def out_features(self) -> int:
        """Width F of the feature vector ``forward`` returns."""

    @abstractmethod
    def forward(self, state: Tensor) -> Tensor:
        """Normalized state features (B, state_dim) -> features (B, out_features)."""
