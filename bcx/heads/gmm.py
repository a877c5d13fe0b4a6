"""Mixture of K diagonal Gaussians: a multimodal head with an exact density."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from bcx.errors import BCXError
from bcx.heads.base import PolicyHead, clamp_to_bounds, require_count


class GmmHead(PolicyHead):
    """sum_k w_k(s) N(mu_k(s), diag(sigma_k(s)^2)), log sigma in [min_log_std, max_log_std]."""

    def __init__(
        self,
        *,
        in_features: int,
        action_dim: int,
        components: int = 5,
        min_log_std: float = -5.0,
        max_log_std: float = 2.0,
        weight_floor: float = 0.05,
        nearest_weight: float = 1.0,
    ) -> None:
        """weight_floor: the share of the mixture spread evenly over the K components, so no
        component's weight falls below weight_floor / K (0: plain softmax weights).
        nearest_weight: how hard training pulls each action's nearest component mean to it, next
        to the likelihood (see ``loss``; 0: maximum likelihood alone)."""
        super().__init__(in_features=in_features, action_dim=action_dim)
        require_count("components", components, 1)
        if not min_log_std < max_log_std:
            raise BCXError(
                f"policy.min_log_std must be smaller than policy.max_log_std "
                f"(got {min_log_std!r} and {max_log_std!r})."
            )
        if isinstance(weight_floor, bool) or not (
            isinstance(weight_floor, int | float) and 0.0 <= weight_floor < 1.0
        ):
            raise BCXError(f"policy.weight_floor must be in [0, 1) (got {weight_floor!r}).")
        if isinstance(nearest_weight, bool) or not (
            isinstance(nearest_weight, int | float) and 0.0 <= nearest_weight < math.inf
        ):
            raise BCXError(
                f"policy.nearest_weight must be a finite number >= 0 (got {nearest_weight!r})."
            )
        self.components, self.weight_floor = components, float(weight_floor)
        self.nearest_weight = float(nearest_weight)
        self.min_log_std, self.max_log_std = min_log_std, max_log_std
        # One layer for logits, means and log sigmas: a single matmul per step keeps the
        # training cost close to the Gaussian head's.
        self.out = nn.Linear(in_features, components * (1 + 2 * action_dim))
        with torch.no_grad():
            # Every component starts at the origin, told apart only by the layer's random
            # weights: each then fits the data near it from the first step, and components
            # split where the actions do. Spread over the action box instead, most started far
            # from the data in some dimension (on fork, y), never earned responsibility there,
            # and one component took every state: a single Gaussian that averages the modes.
            self.out.bias[components : components * (1 + action_dim)].zero_()

    def mixture_params(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture logits (B, K), component means (B, K, A) and stds (B, K, A) for (B, F)."""
        k, a = self.components, self.action_dim
        logits, means, raw_log_std = self.out(features).split([k, k * a, k * a], dim=-1)
        # Sigmoid squash as in GaussianHead: bounded log sigma with a gradient everywhere.
        span = self.max_log_std - self.min_log_std
        std = torch.exp(self.min_log_std + span * torch.sigmoid(raw_log_std))
        if self.weight_floor > 0:
            floor = torch.full_like(logits, self.weight_floor / k)
            logits = torch.logaddexp(
                logits.log_softmax(-1) + math.log1p(-self.weight_floor), floor.log()
            )
        return logits, means.unflatten(-1, (k, a)), std.unflatten(-1, (k, a))

    def distribution(self, features: Tensor) -> MixtureSameFamily:
        """The action distribution for features (B, F): batch (B,), event (A,)."""
        return self._mixture(*self.mixture_params(features))

    @staticmethod
    def _mixture(logits: Tensor, means: Tensor, std: Tensor) -> MixtureSameFamily:
        return MixtureSameFamily(
            Categorical(logits=logits, validate_args=False),
            Independent(Normal(means, std, validate_args=False), 1, validate_args=False),
            validate_args=False,
        )

    def log_prob(self, features: Tensor, actions: Tensor) -> Tensor:
        return self.distribution(features).log_prob(actions)

    def loss(self, features: Tensor, actions: Tensor) -> Tensor:
        """The NLL, always its value. In training its gradient adds nearest_weight times that of
        each action's squared distance to the nearest component mean (multiple-choice
        learning's winner-takes-all): the likelihood moves only components that already explain
        an action, this moves the nearest one to it even when none does."""
        logits, means, std = self.mixture_params(features)
        nll = -self._mixture(logits, means, std).log_prob(actions)
        if self.nearest_weight == 0 or not torch.is_grad_enabled():
            return nll
        nearest = (means - actions.unsqueeze(1)).square().sum(-1).min(-1).values  # (B,)
        return nll + self.nearest_weight * (nearest - nearest.detach())

    def sample(self, features: Tensor) -> Tensor:
        return clamp_to_bounds(self.distribution(features).sample())

    def mode(self, features: Tensor) -> Tensor:
        """Mean of the most probable component (B, A): one mode, never an average of modes."""
        logits, means, _ = self.mixture_params(features)
        best = logits.argmax(dim=-1)[:, None, None].expand(-1, 1, self.action_dim)  # (B, 1, A)
        return clamp_to_bounds(means.gather(1, best).squeeze(1))
