"""``encoder=mlp``: the state features as they are, so the policy is the MLP trunk
(``model.hidden``, ``model.activation``) and the head on the normalized state, bcx's network for
low-dimensional observations."""

from __future__ import annotations

from torch import Tensor

from bcx.encoders.base import Encoder


class MLPEncoder(Encoder):
    """Passes the normalized state on unchanged: (B, state_dim) -> (B, state_dim). It holds no
    weights, so checkpoints written before encoders were a config group load as they are."""

    @property
    def out_features(self) -> int:
        return self.state_dim

    def forward(self, state: Tensor) -> Tensor:
        return state
