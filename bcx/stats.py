"""Uncertainty over seeds, for every table and caption that makes a claim (bcx-report, the
experiments' sweep summaries, ``make paper``).

Per group of runs: the mean, the IQM (interquartile mean, rliable's robust point estimate) and a
95% percentile bootstrap confidence interval (``scipy.stats.bootstrap``, ``RESAMPLES`` resamples,
a fixed seed, so a report of the same runs is the same report). When a group pools runs of
several tasks, seeds are resampled within each task (rliable's stratified bootstrap): every
resample keeps each task's number of runs. With one run, or a task with one run, there is no
interval: it is shown as ``n=1`` / ``-``, never as a zero-width one.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
METHOD = "percentile"
SEED = 0

# scipy >= 1.15 takes ``rng``; older releases only ``random_state``.
_RNG_KEYWORD = (
    "rng" if "rng" in inspect.signature(_scipy_stats.bootstrap).parameters else "random_state"
)


def iqm(values: Sequence[float] | np.ndarray, axis: int = -1) -> float | np.ndarray:
    """Mean of the (non-NaN) values left after dropping the lowest and highest quarter
    (``int(n / 4)`` each): rliable's IQM, scipy's ``trim_mean(values, 0.25)``. Along ``axis``
    for arrays without NaNs (the vectorized form the bootstrap calls)."""
    values = np.asarray(values, dtype=float)
    if values.ndim > 1:
        values = np.sort(values, axis=axis)
        n = values.shape[axis]
        cut = n // 4
        return np.take(values, np.arange(cut, n - cut), axis=axis).mean(axis=axis)
    values = np.sort(values[~np.isnan(values)])
    if len(values) == 0:
        return math.nan
    cut = len(values) // 4
    return float(values[cut : len(values) - cut].mean())


interquartile_mean = iqm  # the name bcx.results.report exported before

STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "iqm": iqm}


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: str | Callable[..., np.ndarray] = "mean",
    strata: Sequence[Hashable] | None = None,
    seed: int = SEED,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """(low, high) of the ``confidence`` percentile bootstrap interval of ``statistic`` ("mean",
    "iqm", or ``f(x, axis)`` vectorized like ``np.mean``) over ``values`` (one per seed).

    strata: one label per value (the task of each run): seeds are resampled within each label,
    each resample keeping every label's count. NaN values are dropped first. (nan, nan) when
    there is no interval: fewer than 2 values, or a stratum with a single value (one seed of a
    task says nothing about how that task's results vary)."""
    values = np.asarray(values, dtype=float)
    labels = list(strata) if strata is not None else [None] * len(values)
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} strata labels for {len(values)} values")
    groups: dict[Hashable, list[float]] = {}
    for label, value in zip(labels, values, strict=True):
        if not math.isnan(value):
            groups.setdefault(label, []).append(float(value))
    samples = [np.array(g) for g in groups.values()]
    if not samples or any(len(s) < 2 for s in samples):
        return math.nan, math.nan
    function = STATISTICS[statistic] if isinstance(statistic, str) else statistic

    def pooled(*strata_samples: np.ndarray, axis: int = -1) -> np.ndarray:
        pooled_values = np.concatenate(strata_samples, axis=axis)
        return np.asarray(function(pooled_values, axis=axis), dtype=float)

    result = _scipy_stats.bootstrap(
        tuple(samples),
        pooled,
        n_resamples=resamples,
        vectorized=True,
        confidence_level=confidence,
        method=METHOD,
        **{_RNG_KEYWORD: np.random.default_rng(seed)},
    )
    low, high = result.confidence_interval
    return float(low), float(high)


@dataclass(frozen=True)
class Summary:
    """One group's runs: count, mean, std, IQM, and the interval of the ``of`` statistic."""

    n: int
    mean: float
    std: float
    iqm: float
    low: float
    high: float
    of: str = "mean"

    @property
    def point(self) -> float:
        """The statistic the interval is for."""
        return self.iqm if self.of == "iqm" else self.mean


def summarize(
    values: Sequence[float] | np.ndarray,
    of: str = "mean",
    strata: Sequence[Hashable] | None = None,
    seed: int = SEED,
) -> Summary:
    """Summary of ``values`` (NaNs left out) with the bootstrap interval of ``of``."""
    values = np.asarray(values, dtype=float)
    kept = values[~np.isnan(values)]
    if not len(kept):
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan, of)
    low, high = bootstrap_ci(values, of, strata, seed)
    return Summary(len(kept), float(kept.mean()), float(kept.std()), iqm(kept), low, high, of)


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits; "-" for NaN."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def interval(summary: Summary, digits: int = 3) -> str:
    """ "[low, high]", or "n=1" / "-" when there is no interval."""
    if math.isnan(summary.low):
        return "n=1" if summary.n == 1 else "-"
    return f"[{number(summary.low, digits)}, {number(summary.high, digits)}]"


def brief(summary: Summary, digits: int = 3) -> str:
    """ "mean [low, high]" in one cell (the mean alone, with n=1, without an interval)."""
    text = number(summary.point, digits)
    if math.isnan(summary.low):
        return f"{text} (n=1)" if summary.n == 1 else text
    return f"{text} {interval(summary, digits)}"


def holds_on(k: int, n: int, unit: str = "seed") -> str:
    """ "on 9 of 10 seeds": how many of the seeds a claim holds on."""
    return f"on {k} of {n} {unit}{'' if n == 1 else 's'}"


def count_holds(flags: Sequence[bool | None]) -> tuple[int, int]:
    """(seeds where a claim holds, seeds measured): None (not measured there) is left out."""
    kept = [bool(f) for f in flags if f is not None]
    return sum(kept), len(kept)


def method(of: str | None = None) -> str:
    """The interval's method, for a report's header line or a caption; ``of``: "mean" or "iqm"
    (None: as each column's header says)."""
    statistic = {"mean": "the mean", "iqm": "the IQM", None: "the mean or IQM (as headed)"}[of]
    return (
        f"a {CONFIDENCE:.0%} CI: {METHOD} bootstrap of {statistic} over seeds "
        f"(scipy.stats.bootstrap, {RESAMPLES} resamples, seed {SEED}; stratified: seeds "
        "resampled within each task when a group pools several)"
    )
