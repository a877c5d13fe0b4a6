"""``encoder=mlp``: the state features as they are, so the policy is the MLP trunk
(``model.hidden``, ``model.activation``) and the head on the normalized state, bcx's network for
low-dimensional observations."""

from __future__ import annotations

from torch import Tensor

from bcx.encoders.base import Encoder, ImageShape
from bcx.errors import BCXError


class MLPEncoder(Encoder):
    """Passes the normalized state on unchanged: (B, state_dim) -> (B, state_dim). It holds no
    weights, so checkpoints written before encoders were a config group load as they are."""

    def __init__(self, *, state_dim: int, image_shape: ImageShape | None = None) -> None:
        if image_shape is not None:
            raise BCXError(
                "encoder=mlp reads the state only, but obs.keys includes images; choose an "
                "image encoder (encoder=conv), or obs.keys=[state]."
            )
        super().__init__(state_dim=state_dim)

    @property
    def out_features(self) -> int:
        return self.state_dim

    def forward(self, state: Tensor, images: Tensor | None = None) -> Tensor:
        return state
