"""Learning-rate schedules (the ``lr_schedule`` config group): functions that build a torch
scheduler stepped once per training step. ``lr_schedule=constant`` builds none.

A schedule spans one fit of ``trainer.max_steps``; a multi-round mitigation (DAgger) that
continues training round after round restarts it each round, as SGDR restarts its cycles, so
every round's data is learned at the full rate first.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from bcx.errors import BCXError


def cosine(
    optimizer: Optimizer, *, total_steps: int, warmup_steps: int = 0, final_fraction: float = 0.0
) -> LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``final_fraction`` of the
    optimizer's learning rate at step ``total_steps``; the cycle repeats every ``total_steps``."""
    if not 0 <= warmup_steps < total_steps:
        raise BCXError(
            f"lr_schedule.warmup_steps must be an integer in [0, trainer.max_steps) (got "
            f"{warmup_steps} with trainer.max_steps={total_steps})."
        )
    if not 0.0 <= final_fraction <= 1.0:
        raise BCXError(f"lr_schedule.final_fraction must be in [0, 1] (got {final_fraction}).")

    def factor(step: int) -> float:
        step %= total_steps
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
