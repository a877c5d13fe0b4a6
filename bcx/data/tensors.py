"""Observations as the network takes them: numpy states and images -> torch tensors.

A learner that sees only the state gets one float32 tensor (B, obs_dim); one that sees images gets
a mapping of ``state`` and its image keys, the images left uint8 (B, H, W, 3) so that a batch of
them crosses to the device at a quarter of the size (the encoder converts and normalizes them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from bcx.data.demos import Demonstrations, stack_index
from bcx.data.disk_rows import DiskRows
from bcx.types import STATE

TensorObservation = Tensor | dict[str, Tensor]


def observation_tensors(
    state: np.ndarray, frames: Mapping[str, np.ndarray], device: torch.device | str = "cpu"
) -> TensorObservation:
    """state (B, obs_dim) and images by key (B, H, W, 3) -> the network's input. On the CPU the
    image tensors share the arrays' memory: no copy of a dataset's frames is made."""
    state_tensor = torch.as_tensor(state, dtype=torch.float32, device=device)
    if not frames:
        return state_tensor
    images = {key: torch.as_tensor(np.asarray(v), device=device) for key, v in frames.items()}
    return {STATE: state_tensor, **images}


class ObservationTable:
    """A dataset's observations on the training device, rows drawn by index: the states, and
    each image key's frames, stored once; with ``horizon`` > 1 a row's frames are its stack,
    gathered through ``stack_index`` (never a copy of the dataset). Frames left in their file
    (``DiskRows``, a cached dataset) stay there: each batch reads its rows and moves them."""

    def __init__(
        self, demos: Demonstrations, keys: tuple[str, ...], horizon: int, device: torch.device
    ) -> None:
        self.device = device
        self.state = torch.as_tensor(demos.obs, dtype=torch.float32, device=device)
        self.images = {key: _on_device(demos.frames[key], device) for key in keys}
        stacks = horizon > 1 and bool(keys)
        index = stack_index(demos.episode_lengths, horizon) if stacks else None
        self.index = torch.as_tensor(index, device=device) if index is not None else None

    def __len__(self) -> int:
        return len(self.state)

    def rows(self, rows: Tensor | slice) -> TensorObservation:
        """The observations at ``rows``: (B, obs_dim), or a mapping with images (B, H, W, C),
        stacked (B, horizon, H, W, C)."""
        if not self.images:
            return self.state[rows]
        at = self.index[rows] if self.index is not None else rows
        return {
            STATE: self.state[rows],
            **{key: self._gather(v, at) for key, v in self.images.items()},
        }

    def _gather(self, images: Tensor | DiskRows, at: Tensor | slice) -> Tensor:
        if isinstance(images, Tensor):
            return images[at]
        rows = at if isinstance(at, slice) else at.cpu().numpy()
        return torch.as_tensor(np.asarray(images[rows]), device=self.device)


def _on_device(images: np.ndarray | DiskRows, device: torch.device) -> Tensor | DiskRows:
    """In-memory frames as a tensor on ``device`` (shared with the array on the CPU); frames
    in a file stay there."""
    return images if isinstance(images, DiskRows) else torch.as_tensor(images, device=device)
