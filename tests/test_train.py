"""End-to-end experiments, tiny but real: the assertions are the product's claims."""

from __future__ import annotations

import json

import numpy as np
import torch

from bcx.pipeline import run
from tests.conftest import TINY


def test_bc_on_inverted_pendulum_beats_random_by_a_wide_margin(make_cfg):
    cfg = make_cfg(
        "env=inverted_pendulum",
        "data.episodes=6",
        "trainer.max_steps=400",
        "rollout.episodes=4",
        *TINY,
    )
    metrics = run(cfg)
    assert metrics["expert/return"] == 1000.0
    assert metrics["rollout/return"] > 10 * metrics["random/return"]
    assert metrics["rollout/normalized_return"] > 0.5
    assert metrics["train/nll"] < 0  # a sharp density: well below the unit-Gaussian NLL


def test_few_lane_demos_drift_off_the_road(make_cfg, tmp_path):
    """Trained on 2 narrow expert episodes, the learner's loss is higher on the states it drives
    to itself than on those it was trained on (the lecture's gap, per-state medians), and it
    leaves the road. On 3 collection seeds of this test's own, each its own run folder."""
    runs = [
        run(
            make_cfg(
                "env=lane",
                "data.episodes=3",
                f"data.seed={data_seed}",
                "trainer.max_steps=600",
                "rollout.episodes=16",
                f"run_dir={tmp_path / f'seed{data_seed}'}",
                *TINY,
            )
        )
        for data_seed in (31, 32, 33)
    ]
    for metrics in runs:
        assert metrics["shift/gap_median"] > 0
        assert metrics["shift/on_policy_mse"] > metrics["shift/train_mse"]
        assert metrics["expert/return"] > metrics["rollout/return"]
    assert np.mean([m["rollout/success"] for m in runs]) < 0.8  # the expert never leaves it


def test_run_writes_metrics_json_and_a_loadable_checkpoint(make_cfg, tmp_path):
    cfg = make_cfg("env=reacher", "data.episodes=4", "trainer.max_steps=200", *TINY)
    metrics = run(cfg)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["metrics"] == metrics
    assert saved["config"]["env"]["id"] == "Reacher-v5"
    assert saved["run"]["steps"] == 200
    for key in ("shift/gap", "rollout/return", "expert/return", "expert/labels", "val/nll"):
        assert np.isfinite(saved["metrics"][key])
    assert saved["metrics"]["expert/labels"] == 4 * 50  # 4 Reacher episodes of 50 steps
    assert (tmp_path / "run" / "logs" / "metrics.csv").exists()
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert "policy.obs_mean" in state["state_dict"]  # normalization travels with the weights


def test_demonstrations_are_cached_and_reused(make_cfg, cache_dir, tmp_path):
    overrides = ("env=reacher", "data.episodes=3", "data.seed=77", "trainer.max_steps=20", *TINY)
    run(make_cfg(*overrides, f"run_dir={tmp_path / 'first'}"))
    files = sorted(cache_dir.glob("Reacher-v5-3ep-*.npz"))
    stamp = [f.stat().st_mtime_ns for f in files]
    run(make_cfg(*overrides, f"run_dir={tmp_path / 'second'}"))
    assert sorted(cache_dir.glob("Reacher-v5-3ep-*.npz")) == files
    assert [f.stat().st_mtime_ns for f in files] == stamp  # read, not rewritten
    assert not list(cache_dir.glob(".*.tmp"))  # no half-written leftovers


def test_wandb_logger_writes_an_offline_run_without_network(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg("env=reacher", "data.episodes=2", "trainer.max_steps=20", "logger=wandb", *TINY)
    run(cfg)
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def test_same_command_and_seed_give_identical_metrics(make_cfg, tmp_path):
    overrides = ("env=reacher", "data.episodes=3", "trainer.max_steps=150", "seed=3", *TINY)
    first = run(make_cfg(*overrides, f"run_dir={tmp_path / 'first'}"))
    second = run(make_cfg(*overrides, f"run_dir={tmp_path / 'second'}"))
    assert first == second  # bit for bit, on CPU
    saved = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert len(saved["provenance"]["git"]["commit"]) == 40
    assert saved["provenance"]["versions"]["torch"].startswith("2.")
