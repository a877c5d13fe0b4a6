"""Multiruns scale by a launcher override, and hparams_search=optuna searches: tiny real sweeps.

Every sweep here runs ``bcx -m`` in a subprocess, as a user would, and reads what it wrote: the
jobs' metrics.json / failed.json, the SweepReport callback's summary.md, bcx-report's report.md
and the Optuna sweeper's optimization_results.yaml.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bcx.conf_dir import CONF_DIR
from bcx.results.report import main as bcx_report
from tests.conftest import run_cli

TINY_SWEEP = [
    "env=inverted_pendulum",  # LQR expert: return 1000; a random policy falls within ~5 steps
    "data.episodes=2",
    "trainer.max_steps=50",
    "trainer.val_check_interval=50",
    "rollout.episodes=2",
    "rollout.num_envs=2",
    "rollout.every_n_steps=100000",  # measure once, at the last step
    "checkpoint.every_n_steps=100",
    "trainer.enable_progress_bar=false",
]
# The report an experiment config adds as hydra.callbacks.report, added on the command line.
REPORT_CALLBACK = [
    "+hydra.callbacks.report._target_=bcx.results.report.SweepReport",
    "+hydra.callbacks.report.title=sweep",
    "+hydra.callbacks.report.group_by=[optim.lr]",
    "+hydra.callbacks.report.columns=[rollout/return]",
]
SEARCHED = {"optim.lr", "model.hidden", "data.batch_size"}


def run_sweep(tmp_path: Path, cache_dir: Path, *overrides: str):
    """``bcx -m`` with the tiny settings, writing the sweep to tmp_path/sweep."""
    paths = [
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"data.cache_dir={cache_dir}",
        f"resume_dir={tmp_path / 'rounds'}",
    ]
    return run_cli("-m", *TINY_SWEEP, *paths, *overrides, cwd=tmp_path)


def finished_runs(sweep: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]


def assert_sensible(run: dict, beats_random: bool = True) -> None:
    """A finished tiny run: trained its steps on the expert's data and measured its policy; at
    a default-like learning rate (not every searched one) that policy beats a random one."""
    metrics = run["metrics"]
    assert run["run"]["steps"] == 50
    assert metrics["expert/labels"] == 2000  # 2 episodes of 1000 steps
    assert metrics["expert/return"] == pytest.approx(1000.0)
    assert 0 < metrics["rollout/return"] <= metrics["expert/return"]
    assert math.isfinite(metrics["shift/dataset_nll"])
    if beats_random:
        assert metrics["rollout/return"] > metrics["random/return"]


def report(sweep: Path) -> str:
    """bcx-report on the sweep folder; its report.md."""
    bcx_report([str(sweep), "--out", str(sweep / "report"), "--columns", "rollout/return"])
    return (sweep / "report" / "report.md").read_text()


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_launcher_runs_a_sweep_that_both_reports_read(tmp_path, cache_dir, launcher):
    result = run_sweep(
        tmp_path, cache_dir, f"hydra/launcher={launcher}", "optim.lr=0.001,0.003", *REPORT_CALLBACK
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "sweep"
    if launcher == "joblib":  # the jobs went through the launcher, not Hydra's basic one
        assert "Joblib.Parallel(" in result.stdout
    else:
        assert len(list(sweep.glob(".submitit/*/*_result.pkl"))) == 2
    runs = finished_runs(sweep)
    assert sorted(r["config"]["optim"]["lr"] for r in runs) == [0.001, 0.003]
    for run in runs:
        assert_sensible(run)
    summary = (sweep / "summary.md").read_text()  # the callback ran after the launcher's jobs
    table = report(sweep)
    for text in (summary, table):
        assert "| 0.001 | 1 |" in text and "| 0.003 | 1 |" in text
        assert "Failed runs" not in text


def test_a_failed_job_keeps_the_other_ones_results_under_joblib(tmp_path, cache_dir):
    result = run_sweep(
        tmp_path, cache_dir, "hydra/launcher=joblib", "optim.lr=-1,0.001", *REPORT_CALLBACK
    )
    assert result.returncode != 0  # the report fails the sweep after writing everything
    assert "1 of 2 jobs failed" in result.stderr
    sweep = tmp_path / "sweep"
    (failed,) = sweep.glob("*/failed.json")
    reason = "optim.lr must be a finite number > 0 (got -1)"
    assert reason in json.loads(failed.read_text())["error"]
    (run,) = finished_runs(sweep)
    assert run["config"]["optim"]["lr"] == 0.001
    assert_sensible(run)
    assert f"- {failed.parent.name}: {reason}" in (sweep / "summary.md").read_text()
    table = report(sweep)
    assert "\n| 1 | " in table  # the finished run's row
    assert f"Failed runs:\n\n- {failed.parent}: {reason}" in table


def test_optuna_search_records_the_best_trial_of_the_chosen_metric(tmp_path, cache_dir):
    """3 trials, TPE after the first one; optimized_metric=rollout/return instead of the
    config's rollout/normalized_return, so the best value must be a return."""
    result = run_sweep(
        tmp_path,
        cache_dir,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.n_startup_trials=1",
        "optimized_metric=rollout/return",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "sweep"
    best = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    assert best["name"] == "optuna" and set(best["best_params"]) == SEARCHED
    runs = finished_runs(sweep)
    assert len(runs) == 3
    for run in runs:
        assert_sensible(run, beats_random=False)
    returns = [r["metrics"]["rollout/return"] for r in runs]
    assert best["best_value"] == max(returns)
    params = best["best_params"]
    assert any(
        r["metrics"]["rollout/return"] == best["best_value"]
        and r["config"]["optim"]["lr"] == pytest.approx(params["optim.lr"])
        and r["config"]["model"]["hidden"] == OmegaConf.create(params["model.hidden"])
        and r["config"]["data"]["batch_size"] == params["data.batch_size"]
        for r in runs
    )
    assert {r["config"]["data"]["batch_size"] for r in runs} <= {64, 256, 1024}
    assert all(1e-4 <= r["config"]["optim"]["lr"] <= 1e-2 for r in runs)


def test_optuna_search_goes_on_after_a_failed_trial(tmp_path, cache_dir):
    """A bad and a good learning rate, the bad one first: the search goes on, the good one is best.

    A seeded random sampler fixes the order (seed 10 draws lr=-1, then 0.001). Not the grid
    sampler: it visits the grid in an unseeded random order, and hydra-optuna-sweeper 1.2 crashes
    when the failed trial is the grid's last (docs/scaling.md, Hyperparameter search).
    """
    result = run_sweep(
        tmp_path,
        cache_dir,
        "hydra/sweeper=optuna",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=10",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=maximize",
        "optimized_metric=rollout/normalized_return",
        "optim.lr=choice(-1,0.001)",
    )
    sweep = tmp_path / "sweep"
    (failed,) = sweep.glob("*/failed.json")
    assert failed.parent.name == "0"  # the first trial failed, and the search went on
    assert result.returncode == 0, result.stderr[-3000:]
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    (run,) = finished_runs(sweep)
    assert best.best_params == {"optim.lr": 0.001}
    assert best.best_value == run["metrics"]["rollout/normalized_return"]


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (Path(CONF_DIR) / "hparams_search").glob("*.yaml"))
)
def test_every_hparams_search_composes_into_an_optimizing_multirun(name):
    """A search names the metric main() returns, and runs without -m, as experiments do."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={name}"], return_hydra_config=True)
    assert cfg.optimized_metric.count("/") == 1  # a split/name metric key
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.direction in ("minimize", "maximize")
    assert cfg.hydra.sweeper.params
