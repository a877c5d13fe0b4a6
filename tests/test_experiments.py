"""Every experiment config runs end to end (shrunk to a smoke test) and writes its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bcx.conf_dir import CONF_DIR
from bcx.results.report import main
from tests.conftest import run_cli

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))
SHRINK = [
    "data.episodes=3",
    "data.val_episodes=1",
    "trainer.max_steps=20",
    "trainer.val_check_interval=20",
    "rollout.episodes=2",
    "rollout.every_n_steps=20",
    "trainer.enable_progress_bar=false",
    "hydra.sweeper.params.seed=0",  # one seed per configuration
]
# The benchmark's locomotion tasks need zoo experts that CI may not have: smoke its machinery
# (BC and DAgger, per-task and overall IQM tables) on a task with an analytic expert.
EXTRA = {
    "imitation_benchmark": ["hydra.sweeper.params.env=inverted_pendulum"],
    # Pixel runs cost more: the baseline and NVIDIA's warp carry the machinery.
    "nvidia_car": ["hydra.sweeper.params.pixel_fix='none,viewpoint'"],
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke_runs_and_reports(tmp_path, name):
    overrides = [*SHRINK, *EXTRA.get(name, []), "hydra.sweep.dir=sweep"]
    result = run_cli(f"experiment={name}", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "Failed runs" not in summary
    assert "percentile bootstrap" in summary  # how the intervals were made, under the title
    assert " mean | " in summary and " IQM | " in summary and "95% CI (" in summary
    assert "| n=1 |" in summary  # one seed per configuration: no interval, not a fake one
    jobs = list((tmp_path / "sweep").glob("*/metrics.json"))
    assert len(jobs) >= 2
    assert summary.count("\n| ") == 1 + len(jobs)  # header + one row per configuration
    main([str(tmp_path / "sweep"), "--out", str(tmp_path / "report")])  # bcx-report reads it too
    assert "Failed runs" not in (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "nll_over_training.png").exists()
    assert (tmp_path / "report" / "compounding_error.png").exists()
    if name == "imitation_benchmark":  # the overall table: one IQM row per method
        overall = (tmp_path / "sweep" / "overall.md").read_text()
        assert "rollout/normalized_return 95% CI (IQM)" in overall
        assert overall.count("\n| ") == 3


def test_a_failed_job_keeps_the_others_and_is_reported(tmp_path):
    """data.val_episodes=5 >= data.episodes=3 fails one job; the other one still runs, the
    report lists the failure with its reason, and the sweep exits non-zero."""
    overrides = [*SHRINK, "hydra.sweeper.params.policy=gaussian", "data.val_episodes=1,5"]
    result = run_cli(
        "experiment=heads_multimodal", *overrides, "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert result.returncode != 0
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "Failed runs" in summary and "data.val_episodes must be smaller" in summary
    assert len(list((tmp_path / "sweep").glob("*/metrics.json"))) == 1
    assert "1 of 2 jobs failed" in result.stderr
