"""Conditional denoising diffusion (DDPM training, DDIM sampling) over normalized actions."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from bcx.errors import BCXError
from bcx.heads.base import clamp_to_bounds, require_count
from bcx.heads.generative import GenerativeHead

SCHEDULES = ("cosine", "linear")


def alpha_bar_schedule(schedule: str, train_steps: int) -> Tensor:
    """Fraction of signal variance left at t = 0..T-1: (T,), from near 1 down to near 0."""
    if schedule == "linear":
        # DDPM's betas 1e-4..0.02 are meant for 1000 steps; rescaled, T steps end as noisy.
        scale = 1000.0 / train_steps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, train_steps, dtype=torch.float64)
    else:  # cosine (Nichol & Dhariwal 2021): gentler at both ends than linear
        s = 0.008
        f = torch.cos((torch.arange(train_steps + 1) / train_steps + s) / (1 + s) * math.pi / 2)
        betas = 1 - (f[1:] / f[:-1]).double() ** 2
    return torch.cumprod(1 - betas.clamp(max=0.999), dim=0).float()


class DdimStep(NamedTuple):
    """Scalars of one DDIM update, as python floats so the loop does no tensor indexing.

    The sampler tracks y = x_t / sqrt(alpha_bar_t), in which a deterministic DDIM step is
    y_prev = a0 + r_prev * eps with a0 = y - r_t * eps, r = sqrt((1 - alpha_bar) / alpha_bar)
    (Song et al. 2021, eq. 14): two adds per step instead of four multiply-adds.
    """

    signal: float  # sqrt(alpha_bar_t): the network's input is x_t = signal * y
    ratio: float  # r_t
    ratio_prev: float  # r at the next, less noisy time, less the share of fresh noise
    sigma: float  # std of the fresh noise added to y_prev (0 when deterministic)


def ddim_plan(alpha_bar: Tensor, timesteps: Tensor, *, eta: float) -> list[DdimStep]:
    """DDIM update scalars along timesteps (S,), descending; the last step lands on t = -1."""
    bars = alpha_bar[timesteps].tolist()
    plan = []
    for bar, prev in zip(bars, [*bars[1:], 1.0], strict=True):
        sigma = eta * math.sqrt((1 - prev) / (1 - bar) * (1 - bar / prev))
        ratio_prev = math.sqrt(max(1 - prev - sigma**2, 0.0) / prev)
        ratio = math.sqrt((1 - bar) / bar)
        plan.append(DdimStep(math.sqrt(bar), ratio, ratio_prev, sigma / math.sqrt(prev)))
    return plan


class DiffusionHead(GenerativeHead):
    """eps(a_t, t, s) trained by noise prediction; actions by DDIM in ``steps`` calls.

    ``eta`` sets ``sample``'s stochasticity (0: deterministic from its start noise, 1: DDPM-like);
    ``mode`` always uses eta = 0 from a fixed draw.
    """

    def __init__(
        self,
        *,
        in_features: int,
        action_dim: int,
        steps: int = 8,
        train_steps: int = 100,
        schedule: str = "cosine",
        eta: float = 0.0,
        hidden: int = 256,
    ) -> None:
        require_count("train_steps", train_steps, 2)
        if isinstance(steps, int) and steps > train_steps:
            raise BCXError(
                f"policy.steps must be at most policy.train_steps ({train_steps}) (got {steps})."
            )
        if schedule not in SCHEDULES:
            choices = ", ".join(SCHEDULES)
            raise BCXError(f"policy.schedule must be one of {choices} (got {schedule!r}).")
        if not isinstance(eta, int | float) or not 0.0 <= eta <= 1.0:
            raise BCXError(f"policy.eta must be a number in [0, 1] (got {eta!r}).")
        super().__init__(in_features=in_features, action_dim=action_dim, steps=steps, hidden=hidden)
        self.train_steps, self.eta = train_steps, eta
        alpha_bar = alpha_bar_schedule(schedule, train_steps)
        self.register_buffer("signal", alpha_bar.sqrt(), persistent=False)
        self.register_buffer("noise_level", (1 - alpha_bar).sqrt(), persistent=False)
        timesteps = torch.linspace(train_steps - 1, 0, steps).round().long()
        self.register_buffer("sample_times", timesteps / train_steps, persistent=False)
        self.deterministic_plan = ddim_plan(alpha_bar, timesteps, eta=0.0)
        self.stochastic_plan = ddim_plan(alpha_bar, timesteps, eta=eta)

    def loss(self, features: Tensor, actions: Tensor) -> Tensor:
        """Noise-prediction MSE at a random timestep per row, mean over action dims: (B,)."""
        t = torch.randint(self.train_steps, actions.shape[:1], device=features.device)
        noise = torch.randn_like(actions)
        noisy = self.signal[t, None] * actions + self.noise_level[t, None] * noise
        predicted = self.net(noisy, self.net.context(features, t / self.train_steps))
        return (predicted - noise).square().mean(dim=-1)

    def sample(self, features: Tensor) -> Tensor:
        return self.denoise(features, self.fresh_noise(features), self.stochastic_plan)

    def mode(self, features: Tensor) -> Tensor:
        return self.denoise(features, self.fixed_noise(features), self.deterministic_plan)

    def denoise(self, features: Tensor, noise: Tensor, plan: list[DdimStep]) -> Tensor:
        """DDIM from x_T = noise (B, A) to actions (B, A), conditioned on features (B, F)."""
        contexts = self.net.context(features, self.sample_times[:, None])  # (S, B, H)
        y = noise / plan[0].signal
        for context, step in zip(contexts, plan, strict=True):
            eps = self.net(y, context, x_scale=step.signal)
            # Actions live in [-1, 1]: clipping the clean-action estimate a0 keeps the early,
            # noisy steps from steering outside the box.
            a0 = torch.sub(y, eps, alpha=step.ratio).clamp(-1.0, 1.0)
            y = torch.add(a0, eps, alpha=step.ratio_prev)
            if step.sigma:
                y = torch.add(y, torch.randn_like(y), alpha=step.sigma)
        return clamp_to_bounds(y)  # alpha_bar = 1 after the last step: y is the action
