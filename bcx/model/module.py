"""BCModule: maximum likelihood on expert state-action pairs. No environment code here."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from bcx.errors import BCXError
from bcx.model.policy import Policy

EVALUATION_SEED = 0  # the noise stream of generative heads' evaluation losses
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
ScheduleFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


class NonFiniteLossError(BCXError):
    """Training produced a NaN/inf loss or weight. The message names it and its step, where the
    last good weights are (if this fit saved any) and the likely causes."""


class BCModule(pl.LightningModule):
    """Minimizes the mean head loss, i.e. the NLL of the expert's actions for density heads.

    Logs ``train/nll`` every ``trainer.log_every_n_steps`` steps and ``val/nll`` on the held-out
    episodes. optimizer: builds the optimizer from the parameters (the ``optim`` group; Adam at
    lr 1e-3 when None); lr_schedule: builds a scheduler stepped every training step from the
    optimizer (the ``lr_schedule`` group; none when None).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        optimizer: OptimizerFactory | None = None,
        lr_schedule: ScheduleFactory | None = None,
    ) -> None:
        super().__init__()
        self.policy = policy
        self.make_optimizer = optimizer or partial(torch.optim.Adam, lr=1e-3)
        self.make_schedule = lr_schedule

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        obs, actions = batch
        loss = self.policy.loss(obs, actions).mean()
        self._require_finite(loss, "train/nll", batch)
        # self.log costs about as much as a small model's whole step, so only log on the steps
        # the loggers write (every trainer.log_every_n_steps).
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/nll", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        obs, actions = batch
        with self.evaluation_noise(batch_idx):
            loss = self.policy.loss(obs, actions).mean()
        self.log("val/nll", loss, batch_size=len(obs))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Runs before the file is written: refusing here keeps the previous, good checkpoint.
        for name, tensor in checkpoint["state_dict"].items():
            self._require_finite(tensor, f"weight {name}")
        # Heads that sample while training (diffusion, flow) draw from torch's global generator:
        # a resumed fit continues its stream, so it ends where the uninterrupted fit ends.
        checkpoint["torch_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "torch_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng_state"])

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any]:
        optimizer = self.make_optimizer(self.parameters())
        if self.make_schedule is None:
            return optimizer
        schedule = {"scheduler": self.make_schedule(optimizer), "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    @torch.no_grad()
    def per_state(self, obs: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """Per-state NLL (head loss) and mode-vs-label MSE in eval mode: {"nll", "mse"} (B,)."""
        was_training = self.training
        self.eval()
        with self.evaluation_noise():
            nll, mse = self.policy.loss_and_error(obs, actions)
        self.train(was_training)
        return {"nll": nll, "mse": mse}

    @contextmanager
    def evaluation_noise(self, offset: int = 0) -> Iterator[None]:
        """Generative heads' losses draw noise (density heads draw none). Evaluations draw a
        fixed stream of their own: each is comparable with the last, and training's stream is
        the same with or without them, so a fit resumed from a checkpoint ends where the
        uninterrupted fit ends."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(EVALUATION_SEED + offset)
            yield

    def _require_finite(self, value: Tensor, name: str, batch: Sequence[Tensor] = ()) -> None:
        """Stop training with NonFiniteLossError when ``value`` (any shape) holds a NaN or inf;
        ``batch`` is the step's (obs, actions), checked for NaN/inf when it does."""
        finite = torch.isfinite(value)
        if finite.all():
            return
        first = value[~finite].flatten()[0].item()
        raise NonFiniteLossError(
            f"{name} became {first} at training step {self.global_step}, so training "
            f"stopped. {self._saved_weights()} {self._causes(batch)} Rerunning the same command "
            "stops the same way: remove the cause first."
        )

    def _saved_weights(self) -> str:
        """Where this fit's last checkpoint is; every saved one is finite (on_save_checkpoint)."""
        callback = self._trainer.checkpoint_callback if self._trainer is not None else None
        path = getattr(callback, "last_model_path", "")
        if path and Path(path).is_file():
            return f"The last weights saved before it, all finite, are in {path}."
        return "No checkpoint was saved before it."

    def _causes(self, batch: Sequence[Tensor]) -> str:
        """The cause where the run shows it (a non-finite setting or data), else the usual ones."""
        causes = [
            f"policy.{setting} is not finite" for setting in _non_finite_settings(self.policy.head)
        ]
        lr = self._learning_rate()
        if lr is not None and not math.isfinite(lr):
            causes.append(f"optim.lr={lr} is not finite")
        if not all(torch.isfinite(t).all() for t in (self.policy.obs_mean, *batch)):
            causes.append("the training data hold NaN or inf values")
        if causes:
            return f"Cause: {'; '.join(causes)}."
        shown = f" (optim.lr={lr:g})" if lr is not None else ""
        return (
            f"Likely causes: a learning rate too high for this model{shown}, a "
            "non-finite config value (such as policy.max_log_std=nan), or NaN/inf values in the "
            "training data."
        )

    def _learning_rate(self) -> float | None:
        """The optimizer's configured learning rate (before any schedule), None if unknown."""
        lr = getattr(self.make_optimizer, "keywords", {}).get("lr")
        return float(lr) if isinstance(lr, int | float) else None


def _non_finite_settings(module: nn.Module) -> list[str]:
    """``name=value`` for each constructor argument ``module`` keeps under its own name (a head's
    ``policy.*`` keys) whose value is a NaN or infinite number."""
    values = {
        name: getattr(module, name, None) for name in inspect.signature(type(module)).parameters
    }
    return [
        f"{name}={value}"
        for name, value in values.items()
        if isinstance(value, float) and not math.isfinite(value)
    ]
