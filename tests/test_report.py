"""Sweep tables: runs grouped by a swept key; mean, IQM and a seeded 95% bootstrap interval
over seeds (stratified by task when a group pools tasks); failures listed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bcx.results.report import SweepReport, load_runs, summarize, to_markdown


def fake_run(
    root: Path, num: int, policy: str | None, success: float | None, env: str | None = None
) -> None:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("{}\n")
    if success is not None:
        config = {"policy": {"_target_": f"bcx.heads.{policy}.Head"}, "seed": num}
        if env is not None:
            config["env"] = {"id": env}
        metrics = {"rollout/success": success}
        run = {"train_time_s": 2.0 * num}
        (job / "metrics.json").write_text(
            json.dumps({"metrics": metrics, "run": run, "config": config})
        )


def test_runs_are_grouped_by_choice_and_failures_are_kept(tmp_path):
    fake_run(tmp_path, 0, "gmm", 1.0)
    fake_run(tmp_path, 1, "gmm", 0.8)
    fake_run(tmp_path, 2, "gaussian", 0.2)
    fake_run(tmp_path, 3, "gaussian", None)  # a job that died before writing metrics.json
    runs, failed = load_runs(tmp_path)
    assert failed == [tmp_path / "3"]
    rows = summarize(runs, ["policy"], ["rollout/success", "run.train_time_s"])
    by_policy = {row["policy"]: row for row in rows}
    assert by_policy["gmm"]["runs"] == 2
    gmm = by_policy["gmm"]["rollout/success"]
    assert (gmm.n, gmm.mean, gmm.std, gmm.iqm) == pytest.approx((2, 0.9, 0.1, 0.9))
    assert (gmm.low, gmm.high) == pytest.approx((0.8, 1.0))  # n=2: resamples 0.8, 0.9, 1.0
    assert by_policy["gaussian"]["rollout/success"].mean == pytest.approx(0.2)
    assert by_policy["gmm"]["run.train_time_s"].mean == pytest.approx(1.0)
    markdown = to_markdown(rows, ["policy"], ["rollout/success"])
    assert "| gmm | 2 | 0.9 | 0.9 | [0.8, 1] |" in markdown
    assert "| gaussian | 1 | 0.2 | 0.2 | n=1 |" in markdown  # one seed: no interval


def test_groups_follow_the_sweeps_job_numbers(tmp_path):
    for num in range(12):  # job 10 must not sort between 1 and 2
        fake_run(tmp_path, num, "gaussian" if num in (1, 10) else f"head{num}", 0.5)
    runs, _ = load_runs(tmp_path)
    assert [Path(run["dir"]).name for run in runs] == [str(num) for num in range(12)]
    rows = summarize(runs, ["policy"], ["rollout/success"])
    assert [row["policy"] for row in rows][:3] == ["head0", "gaussian", "head2"]


def test_sweep_report_writes_summary_files(tmp_path):
    from omegaconf import OmegaConf

    fake_run(tmp_path, 0, "gmm", 1.0)
    fake_run(tmp_path, 1, "gaussian", None)
    (tmp_path / "1" / "failed.json").write_text('{"error": "optim.lr must be a number > 0"}')
    report = SweepReport(group_by=["policy"], columns=["rollout/success"], title="t")
    with pytest.raises(SystemExit, match="1 of 2 jobs failed"):
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    summary = (tmp_path / "summary.md").read_text()
    assert "| gmm | 1 | 1 | 1 | n=1 |" in summary and "Failed runs" in summary
    assert "- 1: optim.lr must be a number > 0" in summary
    assert "percentile bootstrap" in summary.split("\n\n")[1]  # the method, under the title
    assert (tmp_path / "summary.csv").read_text().startswith("policy,runs,rollout/success mean")


def test_a_three_seed_sweep_reports_mean_iqm_and_interval_columns(tmp_path):
    from bcx.results.report import main

    for num, success in enumerate([0.6, 0.7, 0.95]):
        fake_run(tmp_path / "sweep", num, "gmm", success)
    for num, success in enumerate([0.1, 0.2, 0.3], start=3):
        fake_run(tmp_path / "sweep", num, "gaussian", success)
    main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--columns", "rollout/success"])
    report = (tmp_path / "out" / "report.md").read_text()
    head = "| policy | runs | rollout/success mean | rollout/success IQM | rollout/success 95% CI"
    assert head + " (mean) |" in report
    assert "| gaussian | 3 | 0.2 | 0.2 | [0.1, 0.3] |" in report
    row = next(line for line in report.splitlines() if line.startswith("| gmm | 3 |"))
    mean, iqm, interval = row.strip("| ").split(" | ")[2:5]
    low, high = map(float, interval.strip("[]").split(", "))
    assert float(mean) == pytest.approx(0.75, abs=1e-3) and float(iqm) == pytest.approx(0.75)
    assert 0.6 <= low < 0.75 < high <= 0.95
    assert "percentile bootstrap" in report and "10000 resamples, seed 0" in report
    columns = (tmp_path / "out" / "report.csv").read_text().splitlines()[0].split(",")
    assert columns[2:] == [f"rollout/success {c}" for c in
                           ("mean", "std", "iqm", "mean ci_low", "mean ci_high")]  # fmt: skip
    main([str(tmp_path / "sweep"), "--out", str(tmp_path / "again"), "--columns",
          "rollout/success"])  # fmt: skip
    assert (tmp_path / "again" / "report.md").read_text() == report  # seeded: the same numbers


def test_a_group_pooled_over_tasks_resamples_seeds_within_each_task(tmp_path):
    """gmm on two tasks x 3 seeds, success 0 on one task and 1 on the other: resampling seeds
    within each task keeps 3 of each, so the pooled mean is 0.5 in every resample."""
    from bcx.results.report import main

    for num in range(6):
        fake_run(tmp_path / "sweep", num, "gmm", float(num >= 3), env="a" if num < 3 else "b")
    args = [str(tmp_path / "sweep"), "--by", "policy", "--columns", "iqm:rollout/success"]
    main([*args, "--out", str(tmp_path / "out")])  # strata: the swept key env.id
    report = (tmp_path / "out" / "report.md").read_text()
    assert "95% CI (IQM) |" in report and "tasks here: the values of env.id" in report
    assert "| gmm | 6 | 0.5 | 0.5 | [0.5, 0.5] |" in report
    main([*args, "--strata", "--out", str(tmp_path / "plain")])  # no strata: a plain bootstrap
    assert "| gmm | 6 | 0.5 | 0.5 | [0, 1] |" in (tmp_path / "plain" / "report.md").read_text()


def test_interquartile_mean_trims_a_quarter_at_each_end():
    from bcx.results.report import interquartile_mean  # bcx.stats.iqm under its old name

    assert interquartile_mean(np.array([0.0, 1.0, 2.0, 3.0, 100.0, -50.0, 1.5, 2.5])) == 1.75
    assert interquartile_mean(np.array([1.0, 2.0, np.nan])) == 1.5  # n=2: nothing trimmed
    assert np.isnan(interquartile_mean(np.array([np.nan])))


def test_bcx_report_groups_runs_from_several_folders_by_the_swept_key(tmp_path, capsys):
    from bcx.results.report import main

    fake_run(tmp_path / "sweep_a", 0, "gmm", 1.0)
    fake_run(tmp_path / "sweep_a", 1, "gaussian", 0.2)
    fake_run(tmp_path / "sweep_b", 0, "gmm", 0.8)
    fake_run(tmp_path / "sweep_b", 1, "gaussian", None)  # failed
    main(
        [
            str(tmp_path / "sweep_a"),
            str(tmp_path / "sweep_b"),
            "--out",
            str(tmp_path / "out"),
            "--columns",
            "rollout/success",
            "iqm:rollout/success",
        ]
    )
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| policy | runs | rollout/success mean | rollout/success IQM |" in report  # not seed
    assert "| gmm | 2 | 0.9 | 0.9 | [0.8, 1] |" in report
    assert "| gaussian | 1 | 0.2 | 0.2 | n=1 |" in report
    assert "Failed runs" in report and "sweep_b/1" in report
    assert (tmp_path / "out" / "normalized_return.png").exists() is False  # no such metric
    assert (tmp_path / "out" / "report.csv").read_text().startswith("policy,runs,")


def test_bcx_report_on_a_folder_without_runs_says_so(tmp_path, capsys):
    from bcx.results.report import main

    (tmp_path / "notes").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "notes")])
    assert exit_info.value.code == 2
    assert "no bcx runs under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])
    assert "no such folder" in capsys.readouterr().err
