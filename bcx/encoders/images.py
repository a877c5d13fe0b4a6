"""What every image encoder does alike: check its settings and its camera, and augment in
training. One encoder never imports another: they share these instead."""

from __future__ import annotations

from torch import nn

from bcx.encoders.base import ImageShape
from bcx.errors import BCXError


def require_images(encoder: str, image_shape: ImageShape | None) -> ImageShape:
    """The image shape of the learner's camera; a BCXError when it sees none."""
    if image_shape is None:
        raise BCXError(
            f"encoder={encoder} reads camera images, but obs.keys gives the learner none; add a "
            "camera to obs.keys (obs.keys=[pixels]) on an env that renders them, or use "
            "encoder=mlp."
        )
    return image_shape


def require_int(key: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BCXError(f"encoder.{key} must be an integer >= {least} (got {value!r}).")


def shift_augmentation(pad: int, height: int, width: int) -> nn.Module:
    """DrQ's random shift: kornia's per-sample random crop of the border-padded image. Not
    label-preserving for an ego-centric camera that steers (a sideways shift is a heading
    error)."""
    from kornia.augmentation import RandomCrop

    return RandomCrop((height, width), padding=pad, padding_mode="replicate", same_on_batch=False)
