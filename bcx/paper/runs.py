"""The paper's experiments: the scales, one ``Spec`` per bcx run, and the ``Runner`` that runs a
spec through bcx's real Hydra config and ``bcx.pipeline.run``, or reuses its finished result."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bcx import stats
from bcx.conf_dir import CONF_DIR
from bcx.io import atomic_write_json
from bcx.pipeline import run
from bcx.quiet import quiet as quiet_terminal
from bcx.results.summary import METRICS_FILE

HEADS = ("gaussian", "gaussian_fixed", "gmm", "discrete", "diffusion", "flow")
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
    lane_rounds: int  # DAgger fits on lane (mitigation table, labels figure, diagnosis)
    label_demos: tuple[int, ...]  # data.episodes of the BC-by-labels runs (1 held out)
    fork_steps: int
    fork_episodes: int
    fork_val: int
    fork_eval: int
    fork_rounds: int  # DAgger fits on fork
    heads: tuple[str, ...]
    budget: str = ""  # what was traded for the seeds, in words (describe() ends with it)

    def describe(self) -> str:
        text = (
            f"scale `{self.name}`: {len(self.seeds)} seeds ({', '.join(map(str, self.seeds))}) "
            f"per cell, each with its own demos (collection seeds {seed_text()} + i); lane "
            f"{self.lane_steps} steps per fit, {self.lane_eval} evaluation episodes, shift "
            f"measured every {self.lane_every} steps in plain BC's run (Figure 2), at the end "
            f"of each fit elsewhere; fork {self.fork_episodes} demos ({self.fork_val} held "
            f"out), {self.fork_steps} steps per fit, {self.fork_eval} evaluation episodes; "
            f"DAgger {self.lane_rounds} fits on lane (also the labels figure's DAgger, against "
            f"BC from {', '.join(str(e - 1) for e in self.label_demos)} demos), "
            f"{self.fork_rounds} on fork; Figure 1 {self.fit_steps} steps on {self.fit_pairs} "
            "pairs"
        )
        return f"{text}. {self.budget}" if self.budget else text


def data_seed(seed: int) -> int:
    """The first collection seed of training seed ``seed``'s demonstrations: every seed has its
    own (collection seeds ``data_seed + i``; i stays below 100, DAgger's rounds included, so they
    are disjoint between seeds and from the evaluation seeds, rollout.seed + i = 1000000 + i)."""
    return 100 * (seed + 1)


def seed_text() -> str:
    """``data_seed`` in a caption's words."""
    return f"{data_seed(0)}(s+1)" if data_seed(1) == 2 * data_seed(0) else "data_seed(s)"


SCALES = {
    "default": Scale(
        name="default",
        seeds=tuple(range(10)),
        fit_steps=2000,
        fit_pairs=2000,
        lane_steps=1000,
        lane_every=100,
        lane_eval=8,
        lane_rounds=3,
        label_demos=(2, 3, 4, 6),
        fork_steps=2000,
        fork_episodes=30,
        fork_val=3,
        fork_eval=20,
        fork_rounds=2,
        heads=HEADS,
        budget=(
            "Budget: about 300 CPU-seconds per seed, so 10 seeds fit in an hour on 2 cores (one "
            "thread per run, --jobs runs at a time; measured, one seed of every run). Traded for "
            "the 10 seeds, against the 3-seed build: shift is measured only at the end of each fit "
            "outside Figure 2 (the other pieces read final metrics only); DAgger 3 fits on lane, "
            "not 4 (2 learner rounds of 2 episodes), and 2 on fork, not 4 (1 learner round: the "
            "fork diagnosis credits DAgger with less learner data than before, and its control "
            "trains 4000 steps, not 8000); the labels figure's DAgger is the mitigation table's run"
            " (from 2 demos, 2 episodes per round) instead of its own from 1 demo, and its BC curve"
            " has 1, 2, 3 and 5 demos, not 1 to 5; Figure 1 fits 2000 steps, not 3000 (its fit is "
            "within its tolerances at 2000 on every seed measured). The heads' budgets (fork 2000 "
            "steps, 20 evaluation episodes) and lane's (1000 steps, 8 evaluation roads) are "
            "unchanged"
        ),
    ),
    "tiny": Scale(
        name="tiny",
        seeds=(0, 1),  # two: the tests see real intervals and seed-by-seed counts
        fit_steps=100,
        fit_pairs=300,
        lane_steps=40,
        lane_every=20,
        lane_eval=2,
        lane_rounds=2,
        label_demos=(2, 3),
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
    """A run on lane from ``episodes`` expert demos (one held out) on the seed's own collection
    seeds (``data_seed``); DAgger runs ``rounds`` fits (default scale.lane_rounds) of
    ``per_round`` more episodes. Shift is measured at the end of each fit, except in plain BC's
    run (gaussian, none, 3 demos, scale.lane_steps): every scale.lane_every steps, Figure 2's
    curves; the pieces that compare with plain BC reuse that run."""
    steps = steps or scale.lane_steps
    plain = (policy, mitigation, episodes, steps) == ("gaussian", "none", 3, scale.lane_steps)
    overrides = (
        "env=lane",
        f"data.episodes={episodes}",
        f"data.seed={data_seed(seed)}",
        f"rollout.every_n_steps={scale.lane_every if plain else steps}",
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
    """A run on fork (the expert's two modes) from the seed's own demos, one measurement at the
    end of each fit."""
    steps = steps or scale.fork_steps
    overrides = (
        "env=fork",
        f"data.seed={data_seed(seed)}",
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
    overrides) is reused as it is, a run without one starts afresh. ``jobs`` runs go at once,
    each in its own process with one thread: runs are seeded and independent (two that need the
    same demonstrations share them through the cache's lock), so their results do not depend on
    ``jobs``."""

    def __init__(self, out: Path, cache_dir: Path, clock: Clock, jobs: int = 1) -> None:
        self.root, self.cache_dir, self.clock, self.jobs = out / "runs", cache_dir, clock, jobs
        self.made = 0

    def folder(self, spec: Spec) -> Path:
        return run_folder(self.root, spec)

    def config(self, spec: Spec) -> DictConfig:
        return run_config(self.root, self.cache_dir, spec)

    def result(self, spec: Spec) -> dict[str, Any] | None:
        """The finished run's metrics.json content (plus its "dir"), or None."""
        return finished(self.root, spec)

    def run_all(self, specs: Sequence[Spec], piece: str) -> dict[Spec, dict[str, Any]]:
        """Every spec's result, running the missing ones; prints one line per run."""
        unique = list(dict.fromkeys(specs))
        labels = {s: f"{piece}: run {i}/{len(unique)} {s.family}/{s.name}" for i, s in
                  enumerate(unique, 1)}  # fmt: skip
        results = {spec: self.result(spec) for spec in unique}
        for spec in unique:
            if results[spec] is not None:
                self.clock.say(f"{labels[spec]} reused")
        missing = [spec for spec in unique if results[spec] is None]
        for spec, seconds in self._run_missing(missing, labels):
            results[spec] = self.result(spec)
            if results[spec] is None:
                raise RuntimeError(f"bcx run {self.folder(spec)} ended without a {METRICS_FILE}")
            self.made += 1
            self.clock.say(f"{labels[spec]} done in {seconds:.1f} s")
        return results

    def _run_missing(self, specs: list[Spec], labels: dict[Spec, str]):
        """Yield (spec, seconds) as each run finishes: here, or in ``jobs`` worker processes."""
        if self.jobs == 1 or len(specs) < 2:
            for spec in specs:
                self.clock.say(f"{labels[spec]} ...")
                yield spec, run_spec(self.root, self.cache_dir, spec)
            return
        # spawn, not fork: a forked child would inherit torch's thread pools mid-state.
        context = multiprocessing.get_context("spawn")
        self.clock.say(f"{len(specs)} runs to make, {self.jobs} at a time")
        with ProcessPoolExecutor(self.jobs, context, initializer=_worker_setup) as pool:
            running = {pool.submit(run_spec, self.root, self.cache_dir, s): s for s in specs}
            for done in as_completed(running):
                yield running[done], done.result()


def _worker_setup() -> None:
    """A paper worker process: one torch thread and bcx's quiet terminal, as the driver has."""
    torch.set_num_threads(1)
    quiet_terminal()


def run_folder(root: Path, spec: Spec) -> Path:
    return root / spec.family / spec.name


def run_config(root: Path, cache_dir: Path, spec: Spec) -> DictConfig:
    return compose_config(
        [
            f"run_dir={run_folder(root, spec)}",
            f"data.cache_dir={cache_dir}",
            f"resume_dir={root / '.rounds'}",
            "resume=false",  # an unfinished run starts afresh: its logs stay whole
            "trainer.enable_progress_bar=false",
            *spec.overrides,
        ]
    )


def finished(root: Path, spec: Spec) -> dict[str, Any] | None:
    """The finished run's metrics.json content (plus its "dir"), or None."""
    folder = run_folder(root, spec)
    try:
        made_with = json.loads((folder / SPEC_FILE).read_text())
        result = json.loads((folder / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return {**result, "dir": str(folder)} if made_with == list(spec.overrides) else None


def run_spec(root: Path, cache_dir: Path, spec: Spec) -> float:
    """Run one spec afresh into its folder; its wall time in seconds."""
    started = time.perf_counter()
    folder = run_folder(root, spec)
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted run's partial files
    folder.mkdir(parents=True)
    atomic_write_json(folder / SPEC_FILE, list(spec.overrides))
    cfg = run_config(root, cache_dir, spec)
    with quiet(folder / "run.log"):
        run(cfg)
    return time.perf_counter() - started


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


def summary(values: Sequence[float], of: str = "mean") -> stats.Summary:
    """Mean, IQM and 95% bootstrap interval (of ``of``) over seeds (``bcx.stats``)."""
    return stats.summarize(values, of)


# The columns a table gives its headline metric: what stats(values) fills.
STAT_COLUMNS = ("mean", "IQM", f"{stats.CONFIDENCE:.0%} CI")


def _number(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def interval(s: stats.Summary, digits: int = 2) -> str:
    """ "[low, high]", or "n=1" / "-" without an interval."""
    if math.isnan(s.low):
        return "n=1" if s.n == 1 else "-"
    return f"[{_number(s.low, digits)}, {_number(s.high, digits)}]"


def stat_cells(values: Sequence[float], digits: int = 2) -> list[str]:
    """The three STAT_COLUMNS cells: mean, IQM, 95% CI of the mean over seeds."""
    s = summary(values)
    return [_number(s.mean, digits), _number(s.iqm, digits), interval(s, digits)]


def fmt(values: Sequence[float], digits: int = 2) -> str:
    """``mean [95% CI]`` over seeds in one cell (``mean (n=1)`` for one seed)."""
    s = summary(values)
    if math.isnan(s.low):
        return f"{_number(s.mean, digits)} (n=1)" if s.n == 1 else _number(s.mean, digits)
    return f"{_number(s.mean, digits)} {interval(s, digits)}"


def paired(ours: Sequence[float], theirs: Sequence[float]) -> tuple[int, int, stats.Summary]:
    """Seed by seed (same seed, same demonstrations): on how many seeds ``ours`` is above
    ``theirs``, of how many measured, and the summary of the differences ``ours - theirs``."""
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=True) if not (math.isnan(a) or
             math.isnan(b))]  # fmt: skip
    k, n = stats.count_holds([a > b for a, b in pairs])
    return k, n, summary([a - b for a, b in pairs])


def above_text(ours: Sequence[float], theirs: Sequence[float], what: str) -> str:
    """ "<what> on 9 of 10 seeds (mean difference +0.31, 95% CI [0.20, 0.42])"."""
    k, n, d = paired(ours, theirs)
    ci = f"{stats.CONFIDENCE:.0%} CI {interval(d)}" if d.n > 1 else "one seed, no CI"
    return f"{what} {stats.holds_on(k, n)} (mean difference {d.mean:+.2f}, {ci})"


def method_note() -> str:
    """The caption sentence that says what the tables' intervals are."""
    return (
        f"Intervals: {stats.CONFIDENCE:.0%} {stats.METHOD} bootstrap over seeds "
        f"(scipy.stats.bootstrap, {stats.RESAMPLES} resamples, seed {stats.SEED}); IQM: the mean "
        "of the middle 50% of seeds; n=1: one seed, no interval"
    )
