"""A finished run's results in its run folder: metrics.json (with its timing, rounds, curves,
config and provenance), the figures, and the terminal table."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bcx.data.demos import Demonstrations
from bcx.model.policy import Policy
from bcx.results.figures import action_samples, compounding_error
from bcx.results.provenance import provenance
from bcx.results.summary import print_table, reading, write_metrics

log = logging.getLogger("bcx")


def save_results(
    cfg: DictConfig,
    metrics: dict[str, float],
    timing: dict[str, float],
    policy: Policy,
    val: Demonstrations,
    history: list[dict[str, float]],
    curve: dict[str, list[float]],
) -> None:
    """metrics.json and the figures in the run directory, and the terminal table."""
    run_dir = Path(cfg.run_dir)
    if cfg.figure.action_samples:
        choice = cfg.policy._target_.split(".")[-2]
        action_samples(policy, val, run_dir / "action_samples.png", title=choice)
    if curve:
        title = f"{cfg.env.id}, mitigation={cfg.mitigation._target_.split('.')[-2]}"
        compounding_error(curve, run_dir / "compounding_error.png", title=title)
    config = OmegaConf.to_container(cfg, resolve=True)
    path = write_metrics(
        run_dir,
        metrics,
        run=timing,
        provenance=provenance(),
        rounds=history,
        curves={"compounding_error": curve},
        config=config,
    )
    unit = "nats" if policy.head.has_density else f"units of {type(policy.head).__name__}'s loss"
    print_table(
        metrics,
        title=f"bcx: {cfg.env.id}, {cfg.data.episodes} expert episodes",
        lines=reading(metrics, unit=unit),
    )
    log.info("metrics written to %s", path)
