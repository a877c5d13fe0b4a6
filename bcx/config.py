"""Checks on the composed config that Hydra cannot make: values, ranges and their relations.

Hydra already rejects unknown group choices (listing the valid ones) and unknown keys. Everything
here runs before any work, so a bad value costs nothing and overwrites nothing.
"""

from __future__ import annotations

from omegaconf import DictConfig

from bcx.errors import BCXError
from bcx.policy import ACTIVATIONS

DATA_SOURCES = ("collect", "minari")


def validate(cfg: DictConfig) -> None:
    """Raise BCXError naming the first bad key, what it must be, and what it got."""
    _positive_int(cfg, "data.episodes")
    _positive_int(cfg, "data.val_episodes")
    _positive_int(cfg, "data.batch_size")
    _positive_int(cfg, "trainer.max_steps")
    _positive_int(cfg, "rollout.episodes")
    _positive_int(cfg, "rollout.every_n_steps")
    _positive_int(cfg, "rollout.num_envs")
    _positive_int(cfg, "checkpoint.every_n_steps")
    _positive_number(cfg, "optim.lr")
    if cfg.data.val_episodes >= cfg.data.episodes:
        raise BCXError(
            f"data.val_episodes must be smaller than data.episodes, leaving at least one training "
            f"episode (got data.val_episodes={cfg.data.val_episodes}, "
            f"data.episodes={cfg.data.episodes})."
        )
    if cfg.data.source not in DATA_SOURCES:
        raise BCXError(
            f"data.source must be one of {', '.join(DATA_SOURCES)} (got {cfg.data.source!r})."
        )
    if cfg.data.source == "minari" and cfg.mitigation._target_.split(".")[-2] == "dart":
        raise BCXError(
            "mitigation=dart collects its own noisy demonstrations, so it cannot read "
            "data.source=minari; use data.source=collect."
        )
    if cfg.model.activation not in ACTIVATIONS:
        raise BCXError(
            f"model.activation must be one of {', '.join(ACTIVATIONS)} "
            f"(got {cfg.model.activation!r})."
        )
    _require_disjoint_seeds(cfg)


def _lookup(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _positive_int(cfg: DictConfig, key: str) -> None:
    value = _lookup(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BCXError(f"{key} must be a positive integer (got {value!r}).")


def _positive_number(cfg: DictConfig, key: str) -> None:
    value = _lookup(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise BCXError(f"{key} must be a number > 0 (got {value!r}).")


def _require_disjoint_seeds(cfg: DictConfig) -> None:
    collect = range(cfg.data.seed, cfg.data.seed + cfg.data.episodes)
    evaluate = range(cfg.rollout.seed, cfg.rollout.seed + cfg.rollout.episodes)
    if collect.start < evaluate.stop and evaluate.start < collect.stop:
        raise BCXError(
            f"rollout.seed must keep evaluation seeds [{evaluate.start}, {evaluate.stop}) apart "
            f"from collection seeds [{collect.start}, {collect.stop}) (data.seed + i): choose "
            f"rollout.seed >= {collect.stop} or data.seed >= {evaluate.stop}."
        )
