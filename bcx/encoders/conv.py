"""``encoder=conv``: a small CNN for camera images, sized for CPUs (DrQ / Nature-DQN style).

Images come in uint8 (B, H, W, C); the encoder scales them to [-0.5, 0.5], runs ``layers``
3x3 convolutions of ``channels`` channels (the first with stride 2, which quarters the work of
the rest), and projects the flattened maps to ``features`` units (LayerNorm, tanh, as DrQ does).
The learner's normalized state features, if it sees any, are concatenated after them.

``random_shift`` (DrQ's augmentation: pad by that many pixels, replicating the border, and crop
back at a random offset per sample) runs in training only. It is **not label-preserving for an
ego-centric camera that steers**: shifting a forward view sideways is a heading error whose
correct label is a different steering action.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bcx.encoders.base import Encoder, ImageShape
from bcx.encoders.images import require_images, require_int, shift_augmentation
from bcx.errors import BCXError


class ConvEncoder(Encoder):
    """(B, H, W, C) uint8 images [+ (B, state_dim) state] -> (B, features + state_dim)."""

    takes_images = True

    def __init__(
        self,
        *,
        state_dim: int,
        image_shape: ImageShape | None = None,
        channels: int = 32,
        layers: int = 4,
        features: int = 50,
        random_shift: int = 0,
    ) -> None:
        super().__init__(state_dim=state_dim, image_shape=image_shape)
        self.height, self.width, depth = _required_images(image_shape, layers)
        for key, value, least in (("channels", channels, 1), ("layers", layers, 1)):
            require_int(key, value, least)
        require_int("features", features, 1)
        require_int("random_shift", random_shift, 0)
        self.random_shift = random_shift
        convs: list[nn.Module] = [nn.Conv2d(depth, channels, 3, stride=2), nn.ReLU()]
        for _ in range(layers - 1):
            convs += [nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU()]
        self.convs = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            width = self.convs(torch.zeros(1, depth, self.height, self.width)).shape[1]
        self.project = nn.Sequential(nn.Linear(width, features), nn.LayerNorm(features), nn.Tanh())
        self.features = features
        self.shift = (
            shift_augmentation(random_shift, self.height, self.width) if random_shift else None
        )

    @property
    def out_features(self) -> int:
        return self.features + self.state_dim

    def forward(self, state: Tensor, images: Tensor | None = None) -> Tensor:
        x = images.permute(0, 3, 1, 2).float() / 255.0 - 0.5  # (B, C, H, W) in [-0.5, 0.5]
        if self.training and self.shift is not None:
            x = self.shift(x)
        return torch.cat([self.project(self.convs(x)), state], dim=-1)


def _required_images(image_shape: ImageShape | None, layers: int) -> ImageShape:
    """The image shape, checked: present, and large enough for ``layers`` convolutions."""
    height, width, _ = require_images("conv", image_shape)
    smallest = 4 * layers - 1  # one output pixel: (H - 3) // 2 + 1 - 2 * (layers - 1) >= 1
    if min(height, width) < smallest:
        raise BCXError(
            f"encoder=conv with encoder.layers={layers} needs images of at least "
            f"{smallest}x{smallest} pixels, but the camera gives {height}x{width}; raise the "
            "env's image size or lower encoder.layers."
        )
    return image_shape
