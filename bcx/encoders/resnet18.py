"""``encoder=resnet18``: torchvision's ResNet-18 as robomimic, diffusion_policy and LeRobot use it
for robot cameras.

The network is torchvision's ``resnet18(weights=None)`` with every BatchNorm replaced by
GroupNorm (16 channels a group: batch statistics mix samples and drift between training and
acting), its pooling and classifier removed. Its last feature maps go through a 1x1 convolution
to ``keypoints`` maps, and a spatial soft-argmax (kornia's) turns each map into the expected
(x, y) of its activation, in [-1, 1]: 2 x ``keypoints`` coordinates, projected to ``features``
units (ReLU). The learner's normalized state features follow them.

Images are scaled to [0, 1] and normalized with ImageNet's channel statistics, the convention
torchvision's ResNets are built around. ``random_shift`` is the same per-sample shift as
``encoder=conv`` (training only; not label-preserving for a forward camera that steers).

No pretrained weights: they cannot be downloaded at run time, so ``pretrained=true`` is refused.
torchvision is not a dependency of bcx: install the release built for your torch (torchvision
0.28 for torch 2.13, its README has the table). Without one that imports, the encoder says so
before any work.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from bcx.encoders.base import Encoder, ImageShape
from bcx.encoders.images import require_images, require_int, shift_augmentation
from bcx.errors import BCXError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GROUP_CHANNELS = 16  # GroupNorm groups of 16 channels, as diffusion_policy replaces BatchNorm


class ResNet18Encoder(Encoder):
    """(B, H, W, 3) uint8 images [+ (B, state_dim) state] -> (B, features + state_dim)."""

    takes_images = True

    def __init__(
        self,
        *,
        state_dim: int,
        image_shape: ImageShape | None = None,
        keypoints: int = 32,
        features: int = 64,
        random_shift: int = 0,
        pretrained: bool = False,
    ) -> None:
        super().__init__(state_dim=state_dim, image_shape=image_shape)
        if pretrained is not False:
            raise BCXError(
                f"encoder.pretrained={pretrained!r}: bcx cannot download ResNet-18's ImageNet "
                "weights at run time; allowed: false (trained from scratch)."
            )
        height, width, depth = require_images("resnet18", image_shape)
        if depth % 3:
            raise BCXError(
                f"encoder=resnet18 reads RGB frames (3 channels each); the camera gives {depth}."
            )
        for key, value, least in (("keypoints", keypoints, 1), ("features", features, 1)):
            require_int(key, value, least)
        require_int("random_shift", random_shift, 0)
        self.backbone = _backbone(depth)
        maps = _feature_maps(self.backbone, height, width)
        self.to_keypoints = nn.Conv2d(maps, keypoints, kernel_size=1)
        self.project = nn.Sequential(nn.Linear(2 * keypoints, features), nn.ReLU())
        self.features = features
        frames = depth // 3  # obs.horizon stacks frames along the channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN * frames).view(1, depth, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD * frames).view(1, depth, 1, 1))
        self.shift = shift_augmentation(random_shift, height, width) if random_shift else None

    @property
    def out_features(self) -> int:
        return self.features + self.state_dim

    def forward(self, state: Tensor, images: Tensor | None = None) -> Tensor:
        from kornia.geometry.subpix import spatial_soft_argmax2d

        x = images.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W) in [0, 1]
        if self.training and self.shift is not None:
            x = self.shift(x)
        maps = self.to_keypoints(self.backbone((x - self.mean) / self.std))
        points = spatial_soft_argmax2d(maps, normalized_coordinates=True)  # (B, K, 2)
        return torch.cat([self.project(points.flatten(1)), state], dim=-1)


def _backbone(depth: int) -> nn.Module:
    """torchvision's ResNet-18, GroupNorm for BatchNorm, without its pooling and classifier:
    (B, depth, H, W) -> (B, 512, H/32, W/32). A stack of frames (depth 3T) widens its first
    convolution, as DQN's network takes stacked frames."""
    resnet18 = _torchvision_resnet18()
    net = resnet18(weights=None, norm_layer=lambda c: nn.GroupNorm(c // GROUP_CHANNELS, c))
    if depth != 3:
        first = net.conv1
        net.conv1 = nn.Conv2d(
            depth, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False
        )
    return nn.Sequential(*list(net.children())[:-2])


def _torchvision_resnet18() -> Callable[..., nn.Module]:
    try:
        from torchvision.models import resnet18
    except Exception as err:  # absent, or built for another torch (fails as it registers ops)
        first_line = str(err).partition("\n")[0]
        raise BCXError(
            "encoder=resnet18 needs torchvision, which cannot be imported here "
            f"({type(err).__name__}: {first_line}); install the torchvision release built for "
            f"your torch {torch.__version__}, or use encoder=conv."
        ) from None
    return resnet18


def _feature_maps(backbone: nn.Module, height: int, width: int) -> int:
    """The channels of the backbone's last maps, checked to be at least 2x2 for this camera:
    a soft-argmax over one position says nothing about where anything is."""
    with torch.no_grad():
        maps = backbone(torch.zeros(1, backbone[0].in_channels, height, width))
    if min(maps.shape[-2:]) < 2:
        raise BCXError(
            f"encoder=resnet18 needs images of at least 33x33 pixels (its last maps are 1/32 "
            f"of the image, and keypoints need 2x2 of them), but the camera gives "
            f"{height}x{width}; raise the env's image size or use encoder=conv."
        )
    return maps.shape[1]
