"""What the generative heads (diffusion, flow) share.

``ConditionalMLP`` maps (noisy action, time, features) to an action-shaped output;
``GenerativeHead`` is the contract for heads that turn Gaussian noise into actions and have no
tractable density.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bcx.heads.base import PolicyHead, require_count


class ConditionalMLP(nn.Module):
    """Noise predictor / velocity field: (x (N, A), context (N, H)) -> (N, A).

    Its first layer acts on concat(x, embed(t), features); it is split into one linear map per
    input so a sampler computes the features' and the time grid's share (``context``) once per
    call, and each step only adds the x part.
    """

    def __init__(
        self, *, in_features: int, action_dim: int, hidden: int, time_dim: int = 32
    ) -> None:
        super().__init__()
        # Angular frequencies 1..1000 resolve times in [0, 1] from coarse to step-sized.
        freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), time_dim // 2))
        self.register_buffer("freqs", freqs, persistent=False)
        self.x_in = nn.Linear(action_dim, hidden, bias=False)
        self.t_in = nn.Linear(time_dim, hidden, bias=False)
        self.f_in = nn.Linear(in_features, hidden)  # carries the first layer's bias
        self.hidden = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, action_dim)

    def context(self, features: Tensor, t: Tensor) -> Tensor:
        """First-layer share of features (B, F) and times t in [0, 1] broadcastable to (..., B):
        (B,) -> (B, H) when training, (S, 1) -> (S, B, H) for a sampler's grid of S times."""
        angles = t[..., None] * self.freqs
        embedding = torch.cat([angles.sin(), angles.cos()], dim=-1)
        return self.f_in(features) + self.t_in(embedding)

    def forward(self, x: Tensor, context: Tensor, x_scale: float = 1.0) -> Tensor:
        """The output for inputs x_scale * x (N, A): a sampler that tracks a rescaled x passes
        the scale here, where addmm applies it for free."""
        # Runs `steps` times per action, so it is kept lean: addmm adds the x part to the context
        # in one kernel, and ReLU fit our multimodal tests as well as SiLU at a third the cost.
        h = F.relu(torch.addmm(context, x, self.x_in.weight.t(), alpha=x_scale))
        return self.out(F.relu(self.hidden(h)))


class GenerativeHead(PolicyHead):
    """A head that maps Gaussian noise (B, A) to actions through ``steps`` network calls.

    It has no tractable density: ``loss`` is the objective it trains on, ``log_prob`` refuses.
    ``sample`` starts from fresh noise; ``mode`` from one fixed draw, so repeated calls agree.
    """

    has_density = False

    def __init__(self, *, in_features: int, action_dim: int, steps: int, hidden: int) -> None:
        require_count("steps", steps, 1)
        require_count("hidden", hidden, 1)
        super().__init__(in_features=in_features, action_dim=action_dim)
        self.steps = steps
        self.net = ConditionalMLP(in_features=in_features, action_dim=action_dim, hidden=hidden)
        # A typical draw, not the zero vector: for a bimodal policy zero noise sits near the
        # boundary where the paths to the two modes split, and lands between them; a draw
        # commits to one mode.
        # Kept in the state dict so a loaded policy acts exactly as the saved one did.
        draw = torch.randn(action_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("mode_noise", draw)

    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no tractable density; bcx reports its training loss "
            "(head.loss) in place of the NLL."
        )

    @abstractmethod
    def loss(self, features: Tensor, actions: Tensor) -> Tensor:
        """Per-sample training objective (B,); stochastic (random times and noise)."""

    def fresh_noise(self, features: Tensor) -> Tensor:
        """Standard normal start points (B, A) on the features' device."""
        shape = (features.shape[0], self.action_dim)
        return torch.randn(shape, device=features.device, dtype=features.dtype)

    def fixed_noise(self, features: Tensor) -> Tensor:
        """The mode's start point, the same for every row: (B, A)."""
        return self.mode_noise.to(features.dtype).expand(features.shape[0], self.action_dim)
