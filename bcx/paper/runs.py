"""The paper's experiments: the scales, one ``Spec`` per bcx run, and the ``Runner`` that runs a
spec through bcx's real Hydra config and ``bcx.train.run``, or reuses its finished result."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bcx.io import atomic_write_json
from bcx.summary import METRICS_FILE
from bcx.train import CONF_DIR, run

HEADS = ("gaussian", "gaussian_fixed", "gmm", "discrete", "diffusion", "flow")
# Collection seeds where two training roads leave plain BC off the road (README, lane).
LANE_DATA_SEED = 10
SPEC_FILE = "paper_spec.json"  # the overrides a run directory was made with


@dataclass(frozen=True)
class Scale:
    """How big every piece is. Steps are per fit; DAgger runs ``*_rounds`` fits."""

    name: str
    seeds: tuple[int, ...]
    fit_steps: int  # Figure 1: training steps of the Gaussian fit
    fit_pairs: int  # Figure 1: training pairs
    lane_steps: int
    lane_every: int  # rollout.every_n_steps on lane: the points of Figure 2's curves
    lane_eval: int  # evaluation episodes per lane measurement
    lane_rounds: int  # DAgger fits on lane (mitigation table, diagnosis)
    label_demos: tuple[int, ...]  # data.episodes of the BC-by-labels runs (1 held out)
    label_rounds: int  # fits of the DAgger-by-labels runs (from 1 demo, 1 episode per round)
    fork_steps: int
    fork_episodes: int
    fork_val: int
    fork_eval: int
    fork_rounds: int  # DAgger fits on fork
    heads: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"scale `{self.name}`: seeds {', '.join(map(str, self.seeds))}; lane "
            f"{self.lane_steps} steps per fit, {self.lane_eval} evaluation episodes, shift "
            f"measured every {self.lane_every} steps; fork {self.fork_episodes} demos "
            f"({self.fork_val} held out), {self.fork_steps} steps per fit, {self.fork_eval} "
            f"evaluation episodes; DAgger {self.lane_rounds} fits on lane, {self.fork_rounds} "
            f"on fork, {self.label_rounds} from one demo against BC from "
            f"{', '.join(str(e - 1) for e in self.label_demos)} demos; Figure 1 "
            f"{self.fit_steps} steps on {self.fit_pairs} pairs"
        )


SCALES = {
    "default": Scale(
        name="default",
        seeds=(0, 1, 2),
        fit_steps=3000,
        fit_pairs=2000,
        lane_steps=1000,
        lane_every=100,
        lane_eval=8,
        lane_rounds=4,
        label_demos=(2, 3, 4, 5, 6),
        label_rounds=5,
        fork_steps=2000,
        fork_episodes=30,
        fork_val=3,
        fork_eval=20,
        fork_rounds=4,
        heads=HEADS,
    ),
    "tiny": Scale(
        name="tiny",
        seeds=(0,),
        fit_steps=100,
        fit_pairs=300,
        lane_steps=40,
        lane_every=20,
        lane_eval=2,
        lane_rounds=2,
        label_demos=(2, 3),
        label_rounds=2,
        fork_steps=40,
        fork_episodes=4,
        fork_val=1,
        fork_eval=2,
        fork_rounds=2,
        heads=HEADS,
    ),
}


@dataclass(frozen=True)
class Spec:
    """One bcx run: written to ``<out>/runs/<family>/<name>/``, composed from ``overrides``."""

    family: str
    name: str
    overrides: tuple[str, ...]


def lane(
    scale: Scale,
    *,
    seed: int,
    policy: str = "gaussian",
    mitigation: str = "none",
    episodes: int = 3,
    steps: int | None = None,
    rounds: int | None = None,
    per_round: int = 2,
) -> Spec:
    """A run on lane from ``episodes`` expert demos (one held out) on collection seeds 10+;
    DAgger runs ``rounds`` fits (default scale.lane_rounds) of ``per_round`` more episodes."""
    steps = steps or scale.lane_steps
    overrides = (
        "env=lane",
        f"data.episodes={episodes}",
        f"data.seed={LANE_DATA_SEED}",
        f"rollout.every_n_steps={scale.lane_every}",
        f"rollout.episodes={scale.lane_eval}",
        f"rollout.num_envs={min(8, scale.lane_eval)}",
    )
    tag = f"-{episodes}ep" if episodes != 3 else ""
    tag += f"-{steps}steps" if steps != scale.lane_steps else ""
    rounds = rounds or scale.lane_rounds
    if mitigation == "dagger" and (rounds, per_round) != (scale.lane_rounds, 2):
        overrides += (f"mitigation.episodes_per_round={per_round}",)
        tag += f"-{rounds}x{per_round}"
    return _spec("lane", overrides, tag, seed, policy, mitigation, steps, rounds)


def fork(
    scale: Scale,
    *,
    seed: int,
    policy: str = "gaussian",
    mitigation: str = "none",
    steps: int | None = None,
) -> Spec:
    """A run on fork (the expert's two modes), one measurement at the end of each fit."""
    steps = steps or scale.fork_steps
    overrides = (
        "env=fork",
        f"data.episodes={scale.fork_episodes}",
        f"data.val_episodes={scale.fork_val}",
        f"rollout.every_n_steps={scale.fork_steps}",
        f"rollout.episodes={scale.fork_eval}",
        f"rollout.num_envs={min(8, scale.fork_eval)}",
    )
    tag = f"-{steps}steps" if steps != scale.fork_steps else ""
    return _spec("fork", overrides, tag, seed, policy, mitigation, steps, scale.fork_rounds)


def _spec(
    family: str,
    overrides: tuple[str, ...],
    tag: str,
    seed: int,
    policy: str,
    mitigation: str,
    steps: int,
    rounds: int,
) -> Spec:
    """The overrides every family shares; ``tag`` names what differs from the family's usual."""
    overrides += (
        f"policy={policy}",
        f"mitigation={mitigation}",
        f"seed={seed}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        f"checkpoint.every_n_steps={steps}",  # last.ckpt holds each fit's final weights
    )
    if mitigation == "dagger":
        overrides += (f"mitigation.rounds={rounds}",)
    return Spec(family, f"{policy}-{mitigation}{tag}-s{seed}", overrides)


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """bcx's real config (conf/train.yaml) with ``overrides``, as the tests compose it."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


class Clock:
    """Progress lines stamped with the time since the build started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, message: str) -> None:
        elapsed = int(time.perf_counter() - self.started)
        print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", flush=True)


class Runner:
    """Runs specs into ``<out>/runs/``; a run whose metrics.json exists (made from the same
    overrides) is reused as it is, a run without one starts afresh."""

    def __init__(self, out: Path, cache_dir: Path, clock: Clock) -> None:
        self.root, self.cache_dir, self.clock = out / "runs", cache_dir, clock
        self.made = 0

    def folder(self, spec: Spec) -> Path:
        return self.root / spec.family / spec.name

    def config(self, spec: Spec) -> DictConfig:
        folder = self.folder(spec)
        return compose_config(
            [
                f"run_dir={folder}",
                f"data.cache_dir={self.cache_dir}",
                f"resume_dir={self.root / '.rounds'}",
                "resume=false",  # an unfinished run starts afresh: its logs stay whole
                "trainer.enable_progress_bar=false",
                *spec.overrides,
            ]
        )

    def result(self, spec: Spec) -> dict[str, Any] | None:
        """The finished run's metrics.json content (plus its "dir"), or None."""
        folder = self.folder(spec)
        try:
            made_with = json.loads((folder / SPEC_FILE).read_text())
            result = json.loads((folder / METRICS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return {**result, "dir": str(folder)} if made_with == list(spec.overrides) else None

    def run_all(self, specs: Sequence[Spec], piece: str) -> dict[Spec, dict[str, Any]]:
        """Every spec's result, running the missing ones; prints one line per run."""
        unique = list(dict.fromkeys(specs))
        results = {}
        for index, spec in enumerate(unique, 1):
            label = f"{piece}: run {index}/{len(unique)} {spec.family}/{spec.name}"
            found = self.result(spec)
            if found is None:
                started = time.perf_counter()
                self.clock.say(f"{label} ...")
                found = self._run(spec)
                self.clock.say(f"{label} done in {time.perf_counter() - started:.1f} s")
            else:
                self.clock.say(f"{label} reused")
            results[spec] = found
        return results

    def _run(self, spec: Spec) -> dict[str, Any]:
        folder = self.folder(spec)
        shutil.rmtree(folder, ignore_errors=True)  # an interrupted run's partial files
        folder.mkdir(parents=True)
        atomic_write_json(folder / SPEC_FILE, list(spec.overrides))
        cfg = self.config(spec)
        with quiet(folder / "run.log"):
            run(cfg)
        self.made += 1
        result = self.result(spec)
        if result is None:
            raise RuntimeError(f"bcx run {folder} ended without a {METRICS_FILE}")
        return result


@contextlib.contextmanager
def quiet(log_file: Path):
    """A run's terminal table, prints and warnings go to its run.log; Lightning's info lines
    are dropped (its warnings still reach the terminal)."""
    names = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "bcx")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with (
            log_file.open("w") as f,
            contextlib.redirect_stdout(f),
            contextlib.redirect_stderr(f),
        ):
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def metric(result: dict[str, Any], key: str) -> float:
    """A final metric of a run (NaN when the run did not log it)."""
    return float(result["metrics"].get(key, math.nan))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)), float(np.nanstd(values))


def fmt(values: Sequence[float], digits: int = 2) -> str:
    """``mean ± std`` over seeds (just the value for one seed)."""
    mean, std = mean_std(values)
    if len(values) == 1 or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
