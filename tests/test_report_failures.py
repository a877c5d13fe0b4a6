"""Failed jobs are never a success: a grid sweep with one ends non-zero, whatever the job raised,
and leaves that job's error and traceback in its failed.json and its log; bcx-report lists them,
and a metrics.json cut short, by name, and ends non-zero without a traceback or numpy warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from bcx.results.report import SweepReport
from bcx.results.report import main as bcx_report
from bcx.results.sweep_progress import SweepProgress
from tests.test_report import fake_run


def test_bcx_report_lists_failed_and_damaged_runs_and_ends_non_zero(tmp_path, capsys):
    for num, success in enumerate([0.6, 0.7]):
        fake_run(tmp_path, num, "gmm", success)
    fake_run(tmp_path, 2, "gaussian", 0.2)
    fake_run(tmp_path, 3, "gaussian", None)  # failed with bcx's error
    (tmp_path / "3" / "failed.json").write_text('{"error": "optim.lr must be a number > 0"}')
    fake_run(tmp_path, 4, "gaussian", 0.3)
    damaged = tmp_path / "4" / "metrics.json"
    damaged.write_text(damaged.read_text()[:40])  # cut short, as by a full disk
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" or "Degrees of freedom"
        code = bcx_report([str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "# bcx report: 3 runs" in report
    assert "| gaussian | 1 | - | - | - | 0.2 | 0.2 | n=1 |" in report  # damaged: not counted
    assert f"- {tmp_path / '3'}: optim.lr must be a number > 0" in report
    assert f"- {tmp_path / '4'}: {damaged} is damaged" in report
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"bcx-report: 2 failed runs, listed above and in {tmp_path / 'out' / 'report.md'}"
    )
    assert "Traceback" not in err


def test_bcx_report_of_finished_runs_only_ends_with_zero(tmp_path):
    fake_run(tmp_path, 0, "gmm", 1.0)
    assert bcx_report([str(tmp_path), "--out", str(tmp_path / "out")]) == 0


def test_sweep_report_lists_a_damaged_run(tmp_path):
    fake_run(tmp_path, 0, "gmm", 1.0)
    fake_run(tmp_path, 1, "gmm", 0.5)
    (tmp_path / "1" / "metrics.json").write_text("{")
    report = SweepReport(group_by=["policy"], columns=["rollout/success"], title="t")
    with pytest.raises(SystemExit, match="1 of 2 jobs failed"):
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert (
        f"- 1: {tmp_path / '1' / 'metrics.json'} is damaged"
        in (tmp_path / "summary.md").read_text()
    )


def sweep_end(sweep_dir: Path, sweeper: dict) -> DictConfig:
    return OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}, "sweeper": sweeper}})


def test_a_grid_sweep_with_a_failed_job_ends_non_zero_and_a_search_does_not(tmp_path):
    fake_run(tmp_path, 0, "gmm", 1.0)
    fake_run(tmp_path, 1, "gmm", None)
    (tmp_path / "1" / "failed.json").write_text('{"error": "data.episodes must be positive"}')
    grid = {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"}
    with pytest.raises(SystemExit, match=r"^bcx: 1 of 2 jobs failed"):
        SweepProgress().on_multirun_end(sweep_end(tmp_path, grid))
    search = {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"}
    SweepProgress().on_multirun_end(sweep_end(tmp_path, search))  # a failed trial is a result
    (tmp_path / "1" / "failed.json").unlink()
    fake_run(tmp_path, 2, "gmm", 0.5)
    (tmp_path / "1" / "metrics.json").write_text((tmp_path / "2" / "metrics.json").read_text())
    SweepProgress().on_multirun_end(sweep_end(tmp_path, grid))  # all finished


# bcx's entry point with a bug in job 1: build_policy raises a plain RuntimeError there.
CRASHING = textwrap.dedent(
    """
    import sys
    import bcx.builders as builders
    import bcx.train as train

    build_policy = builders.build_policy

    def crashing(cfg, *args):
        if cfg.seed == 1:
            raise RuntimeError("a bug in job 1")
        return build_policy(cfg, *args)

    builders.build_policy = crashing
    sys.argv = ["bcx", *sys.argv[1:]]
    train.main()
    """
)


def test_a_plain_multirun_with_a_crashed_job_records_it_and_ends_non_zero(tmp_path, cache_dir):
    overrides = [
        "-m",
        "env=inverted_pendulum",
        "seed=0,1",
        "data.episodes=2",
        "trainer.max_steps=20",
        "trainer.val_check_interval=20",
        "trainer.enable_progress_bar=false",
        "rollout.episodes=2",
        "rollout.num_envs=2",
        "logger=none",
        f"data.cache_dir={cache_dir}",
        f"resume_dir={tmp_path / 'rounds'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING, *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "bcx: 1 of 2 jobs failed" in result.stderr
    sweep = tmp_path / "sweep"
    assert (sweep / "0" / "metrics.json").exists()  # the other job's results are kept
    failed = json.loads((sweep / "1" / "failed.json").read_text())
    assert failed["error"] == "RuntimeError: a bug in job 1"
    assert "in crashing" in failed["traceback"] and failed["traceback"].endswith(
        "RuntimeError: a bug in job 1\n"
    )
    log = (sweep / "1" / "train.log").read_text()
    assert "Traceback" in log and "RuntimeError: a bug in job 1" in log
    assert "sweep job 2/2 failed" in result.stdout + result.stderr
