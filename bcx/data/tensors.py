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
    images = {key: torch.as_tensor(array, device=device) for key, array in frames.items()}
    return {STATE: state_tensor, **images}


class ObservationTable:
    """A dataset's observations on the training device, rows drawn by index: the states, and
    each image key's frames, stored once; with ``horizon`` > 1 a row's frames are its stack,
    gathered through ``stack_index`` (never a copy of the dataset)."""

    def __init__(
        self, demos: Demonstrations, keys: tuple[str, ...], horizon: int, device: torch.device
    ) -> None:
        self.state = torch.as_tensor(demos.obs, dtype=torch.float32, device=device)
        self.images = {key: torch.as_tensor(demos.frames[key], device=device) for key in keys}
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
        return {STATE: self.state[rows], **{key: v[at] for key, v in self.images.items()}}
