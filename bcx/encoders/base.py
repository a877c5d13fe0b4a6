"""The encoder contract: what the learner sees -> one feature vector (B, out_features).

The policy normalizes the state features before they reach the encoder; an encoder that reads
images normalizes (and, in training only, augments) them itself. The MLP trunk and the head that
follow are the same for every encoder, so a head never knows what the learner sees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

ImageShape = tuple[int, int, int]
"""(height, width, channels) of one camera image, uint8."""


class Encoder(nn.Module, ABC):
    """Built with the sizes of what it reads: ``state_dim``, the learner's state features
    (normalized; 0 when it sees only images), and ``image_shape``, its camera's images (None
    when it sees none). ``out_features`` is the width of what it returns."""

    takes_images = False  # whether it reads images (True) or only the state (False)

    def __init__(self, *, state_dim: int, image_shape: ImageShape | None = None) -> None:
        super().__init__()
        self.state_dim, self.image_shape = state_dim, image_shape

    @property
    @abstractmethod
    def out_features(self) -> int:
        """Width F of the feature vector ``forward`` returns."""

    @abstractmethod
    def forward(self, state: Tensor, images: Tensor | None = None) -> Tensor:
        """Normalized state features (B, state_dim) and, for an image encoder, images
        (B, H, W, C) uint8 -> features (B, out_features)."""
