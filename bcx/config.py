"""Checks on the composed config that Hydra cannot make: values, ranges and their relations.

Hydra already rejects unknown group choices (listing the valid ones) and unknown keys. Everything
here runs before any work, so a bad value costs nothing and overwrites nothing.
"""

from __future__ import annotations

from hydra.utils import get_class
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
    """Evaluation seeds apart from every seed collection may take: the initial demonstrations'
    and those the mitigation's later rounds go on to take (``Mitigation.collection_episodes``)."""
    later = _mitigation_collection_episodes(cfg)
    collect = range(cfg.data.seed, cfg.data.seed + cfg.data.episodes + later)
    evaluate = range(cfg.rollout.seed, cfg.rollout.seed + cfg.rollout.episodes)
    if collect.start < evaluate.stop and evaluate.start < collect.stop:
        name = cfg.mitigation._target_.split(".")[-2]
        taken = (
            f"data.seed + i for the data.episodes={cfg.data.episodes} initial episodes and the "
            f"{later} that mitigation={name}'s later rounds may collect"
            if later
            else f"data.seed + i, i < data.episodes={cfg.data.episodes}"
        )
        choices = [f"rollout.seed >= {collect.stop}", f"data.seed >= {evaluate.stop}"]
        if evaluate.start - len(collect) >= 0:
            choices.append(f"data.seed <= {evaluate.start - len(collect)}")
        raise BCXError(
            f"rollout.seed must keep evaluation seeds [{evaluate.start}, {evaluate.stop}) apart "
            f"from collection seeds [{collect.start}, {collect.stop}) ({taken}): choose "
            f"{', '.join(choices[:-1])} or {choices[-1]}."
        )


def _mitigation_collection_episodes(cfg: DictConfig) -> int:
    """Episodes the configured mitigation may collect after the initial demonstrations."""
    try:
        mitigation = get_class(cfg.mitigation._target_)
    except Exception:  # a bad _target_ fails, with Hydra's message, where it is instantiated
        return 0
    count = getattr(mitigation, "collection_episodes", None)
    if count is None:
        return 0
    return count(cfg.mitigation, cfg.data.episodes - cfg.data.val_episodes)
