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


def take_rows(obs: TensorObservation, rows: Tensor | slice) -> TensorObservation:
    """The same rows of every part of an observation batch."""
    if isinstance(obs, dict):
        return {key: part[rows] for key, part in obs.items()}
    return obs[rows]


def row_count(obs: TensorObservation) -> int:
    return len(obs[STATE]) if isinstance(obs, dict) else len(obs)
