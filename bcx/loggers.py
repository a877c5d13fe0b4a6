"""The run's experiment loggers (csv, tensorboard, wandb, none), built from ``cfg.logger``."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.loggers import Logger, WandbLogger


def build_logger(cfg: DictConfig) -> Logger | bool:
    """The configured Lightning logger, or False for ``logger=none``."""
    return instantiate(cfg.logger) if cfg.get("logger") else False


def finish_loggers(loggers: list[Logger], metrics: dict[str, float]) -> None:
    """Give wandb the run's final metrics as its summary and end its run cleanly."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(metrics)
            logger.experiment.finish()
