"""The shift measurement: three populations, their gaps, medians that few states cannot flip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bcx.data.demos import Demonstrations
from bcx.measure.shift import GAPS, POPULATIONS, TRAIN_SAMPLE, ShiftCallback, shift_metrics
from bcx.pipeline import run
from bcx.results.summary import reading
from tests.conftest import TINY


def test_a_run_logs_every_population_and_its_gaps_are_differences(make_cfg, tmp_path):
    metrics = run(
        make_cfg("env=inverted_pendulum", "data.episodes=3", "trainer.max_steps=200", *TINY)
    )
    timing = json.loads((tmp_path / "run" / "metrics.json").read_text())["run"]
    assert 0 < timing["rollout_train_states_s"] < timing["rollout_time_s"]
    for population in POPULATIONS:
        for suffix in ("_nll", "_nll_median", "_mse"):
            assert np.isfinite(metrics[f"shift/{population}{suffix}"])
    for suffix in ("", "_median"):
        nll = {p: metrics[f"shift/{p}_nll{suffix}"] for p in POPULATIONS}
        assert metrics[f"shift/gap{suffix}"] == pytest.approx(nll["on_policy"] - nll["train"])
        assert metrics[f"shift/generalization_gap{suffix}"] == pytest.approx(
            nll["dataset"] - nll["train"]
        )
        assert metrics[f"shift/heldout_gap{suffix}"] == pytest.approx(
            nll["on_policy"] - nll["dataset"]
        )
        # The lecture's gap is the sum of its two parts.
        assert metrics[f"shift/gap{suffix}"] == pytest.approx(
            metrics[f"shift/generalization_gap{suffix}"] + metrics[f"shift/heldout_gap{suffix}"]
        )


def per_state(rng: np.random.Generator, centre: dict[str, float], n: int = 500) -> dict:
    return {
        p: {
            "nll": torch.as_tensor(centre[p] + rng.standard_normal(n)),
            "mse": torch.as_tensor(rng.random(n)),
        }
        for p in POPULATIONS
    }


def test_an_outlier_state_flips_the_mean_gap_but_not_the_median_gap():
    """The lane case of the issue: one held-out state far from the training road has an NLL
    large enough that the mean says on-policy < held-out, though nearly every state says the
    opposite."""
    values = per_state(np.random.default_rng(0), {"train": -3.0, "dataset": -2.0, "on_policy": 5.0})
    clean = shift_metrics(values)
    values["dataset"]["nll"][0] = 1e6
    spoiled = shift_metrics(values)
    assert clean["shift/heldout_gap"] > 0 and spoiled["shift/heldout_gap"] < 0
    assert spoiled["shift/heldout_gap_median"] == pytest.approx(
        clean["shift/heldout_gap_median"], abs=0.05
    )
    assert spoiled["shift/gap_median"] == clean["shift/gap_median"]  # dataset is not in it
    assert set(spoiled) == {
        f"shift/{name}{suffix}"
        for name in [*(f"{p}_nll" for p in POPULATIONS), *GAPS]
        for suffix in ("", "_median")
    } | {f"shift/{p}_mse" for p in POPULATIONS}


def demos(pairs: int) -> Demonstrations:
    rng = np.random.default_rng(1)
    return Demonstrations(
        obs=rng.standard_normal((pairs, 3)).astype(np.float32),
        actions=rng.uniform(-1, 1, (pairs, 1)).astype(np.float32),
        episode_lengths=np.array([pairs]),
        returns=np.zeros(1),
    )


def callback(training: Demonstrations) -> ShiftCallback:
    return ShiftCallback(
        envs=[], expert=None, seeds=[], every_n_steps=1, held_out=training, training=training
    )


def test_training_states_are_a_fixed_bounded_subsample():
    big = demos(3 * TRAIN_SAMPLE)
    first, again = callback(big), callback(big)
    assert len(first.training_rows) == TRAIN_SAMPLE
    np.testing.assert_array_equal(first.training_rows, again.training_rows)
    assert len(np.unique(first.training_rows)) == TRAIN_SAMPLE  # drawn without replacement
    small = demos(TRAIN_SAMPLE // 4)
    first.set_training_data(small)
    np.testing.assert_array_equal(first.training_rows, np.arange(len(small)))  # all of them


def test_the_reading_follows_the_numbers():
    metrics = {
        "shift/gap_median": 6.0,
        "shift/on_policy_nll_median": 2.0,
        "shift/train_nll_median": -4.0,
        "rollout/normalized_return": 0.41,
    }
    shifted, earns = reading(metrics)
    assert "6 nats above its training loss" in shifted and "distribution shift" in shifted
    assert "41% of the expert's return" in earns
    metrics |= {"shift/gap_median": -0.5, "shift/on_policy_nll_median": -4.5, "rollout/success": 1}
    level, earns = reading(metrics, unit="loss units")
    assert "not above its training loss" in level and "no sign of distribution shift" in level
    assert "succeeds in 100% of episodes" in earns
