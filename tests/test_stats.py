"""bcx.stats: IQM, seeded (stratified) bootstrap intervals, and the k-of-n claim text."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import trim_mean

from bcx import stats


def test_iqm_is_scipys_quarter_trimmed_mean_also_along_an_axis():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 12))
    assert stats.iqm(values, axis=-1) == pytest.approx(trim_mean(values, 0.25, axis=-1))
    assert stats.iqm(values[0]) == pytest.approx(trim_mean(values[0], 0.25))


def test_the_interval_contains_the_mean_and_narrows_with_more_seeds():
    rng = np.random.default_rng(1)
    few, many = rng.normal(size=5), rng.normal(size=50)
    for values in (few, many):
        low, high = stats.bootstrap_ci(values)
        assert low < values.mean() < high
        low, high = stats.bootstrap_ci(values, "iqm")
        assert low < stats.iqm(values) < high
    width = {len(v): np.diff(stats.bootstrap_ci(v))[0] for v in (few, many)}
    assert width[50] < width[5]


def test_the_interval_is_reproducible_from_its_seed():
    values = np.random.default_rng(2).normal(size=10)
    assert stats.bootstrap_ci(values, seed=3) == stats.bootstrap_ci(values, seed=3)
    assert stats.bootstrap_ci(values) == stats.bootstrap_ci(values)  # the default seed
    assert stats.bootstrap_ci(values, seed=3) != stats.bootstrap_ci(values, seed=4)


def test_stratified_resampling_keeps_every_strata_count():
    # Task a: 3 seeds in [0, 1); task b: 7 seeds in [10, 11). Every resample of a stratified
    # bootstrap has exactly 3 values below 5; a plain bootstrap over all 10 does not.
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.uniform(0, 1, 3), rng.uniform(10, 11, 7)])
    strata = ["a"] * 3 + ["b"] * 7

    def below_five(x, axis=-1):
        return np.sum(x < 5, axis=axis)

    assert stats.bootstrap_ci(values, below_five, strata=strata) == (3.0, 3.0)
    low, high = stats.bootstrap_ci(values, below_five)
    assert low < 3 < high
    # Constant within each task: the pooled mean cannot move when counts are kept.
    low, high = stats.bootstrap_ci([0, 0, 0, 1, 1, 1, 1, 1, 1, 1], strata=strata)
    assert low == pytest.approx(0.7) and high == pytest.approx(0.7)


def test_no_interval_from_one_seed_and_small_groups_still_summarize():
    assert all(map(math.isnan, stats.bootstrap_ci([0.5])))
    assert all(map(math.isnan, stats.bootstrap_ci([0.5, 0.7, 0.9], strata=["a", "a", "b"])))
    assert all(map(math.isnan, stats.bootstrap_ci([np.nan, 0.5])))  # NaNs are left out
    one = stats.summarize([0.5])
    assert (one.n, one.mean, one.iqm) == (1, 0.5, 0.5)
    assert stats.interval(one) == "n=1" and stats.brief(one) == "0.5 (n=1)"
    two = stats.summarize([0.4, 0.6])
    assert two.n == 2 and stats.interval(two) == "[0.4, 0.6]"
    assert stats.interval(stats.summarize([1, 2, 3, 4], strata="aabc")) == "-"
    assert stats.summarize([]).n == 0 and stats.number(math.nan) == "-"


def test_claims_are_counted_over_the_seeds_they_were_measured_on():
    assert stats.count_holds([True, False, True, None]) == (2, 3)
    assert stats.holds_on(9, 10) == "on 9 of 10 seeds"
    assert stats.holds_on(1, 1) == "on 1 of 1 seed"
    assert "percentile bootstrap" in stats.method() and f"{stats.RESAMPLES} resamples" in (
        stats.method("iqm")
    )
