"""Sweep results as tables: read every run's ``metrics.json``, group by the swept keys, summarize.

Used by experiment configs as a Hydra callback (``SweepReport``): when a multirun ends it prints
the table and writes ``summary.md`` and ``summary.csv`` into the sweep directory. Runs without a
``metrics.json`` (failed jobs) are listed as failed, never silently dropped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from bcx import figures
from bcx.errors import BCXError, exit_with
from bcx.io import atomic_write
from bcx.summary import FAILED_FILE, METRICS_FILE


def load_runs(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """(finished runs' metrics.json contents, job folders without one) under ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    jobs = (p.parent.parent for p in sweep_dir.glob("*/.hydra/config.yaml"))
    return _read_jobs(sorted(jobs, key=job_order))


def find_runs(folders: Sequence[str | Path]) -> tuple[list[dict[str, Any]], list[Path]]:
    """Like ``load_runs`` over any mix of run folders, sweep folders and folders of sweeps: every
    folder below them that holds a metrics.json, a failed.json or a Hydra job config is a run."""
    jobs: set[Path] = set()
    for folder in map(Path, folders):
        for marker in (METRICS_FILE, FAILED_FILE, ".hydra/config.yaml"):
            jobs |= {p.parent for p in folder.rglob(marker)}
    jobs = {job.parent if job.name == ".hydra" else job for job in jobs}
    return _read_jobs(sorted(jobs, key=job_order))


def job_order(job: Path) -> list:
    """Hydra's job numbers in numeric order (2 before 10), so tables list groups in sweep order."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(job))]


def _read_jobs(jobs: Sequence[Path]) -> tuple[list[dict[str, Any]], list[Path]]:
    finished, failed = [], []
    for job in jobs:
        path = job / METRICS_FILE
        if path.exists():
            finished.append({**json.loads(path.read_text()), "dir": str(job)})
        else:
            failed.append(job)
    return finished, failed


def failure_reason(job: Path) -> str:
    """The error a failed job recorded, or what is known without one."""
    try:
        return json.loads((job / FAILED_FILE).read_text())["error"]
    except (OSError, ValueError, KeyError):
        return "no error recorded (killed, or an unexpected exception: see its log)"


def lookup(config: dict[str, Any], dotted: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; the value of a swept key in a run's resolved config."""
    for part in dotted.split("."):
        config = config[part]
    return config


def summarize(
    runs: Sequence[dict[str, Any]], group_by: Sequence[str], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per group: the group's key values, run count, and per column (mean, std) over runs.

    A column is a metric name (``rollout/return``) or a ``run.*`` field (``run.train_time_s``);
    ``iqm:<column>`` is the interquartile mean over the group's runs instead (the mean of the
    middle 50%, as rliable and the imitation library's benchmark summarize), with std NaN.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        key = tuple(str(_group_value(run, k)) for k in group_by)
        groups.setdefault(key, []).append(run)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = dict(zip(group_by, key, strict=True)) | {"runs": len(members)}
        for column in columns:
            name = column.removeprefix("iqm:")
            values = np.array([_column_value(r, name) for r in members], dtype=float)
            if column.startswith("iqm:"):
                row[column] = (interquartile_mean(values), math.nan)
            else:
                row[column] = (float(np.nanmean(values)), float(np.nanstd(values)))
        rows.append(row)
    return rows


def interquartile_mean(values: np.ndarray) -> float:
    """Mean of the (non-NaN) values left after dropping the lowest and highest quarter
    (``int(n / 4)`` each): rliable's IQM, i.e. scipy's ``trim_mean(values, 0.25)``."""
    values = np.sort(values[~np.isnan(values)])
    if len(values) == 0:
        return math.nan
    cut = len(values) // 4
    return float(values[cut : len(values) - cut].mean())


# Keys that differ between runs without being what a sweep compares.
NOT_SWEPT = ("seed", "data.seed", "run_dir", "resume_dir", "data.cache_dir", "hydra", "logger")


def swept_keys(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Config keys that every run has and whose values differ between runs (a config group
    choice counts as one key, its own sub-keys not), leaving out seeds and where runs write."""
    flat = [_flatten(run["config"]) for run in runs]
    keys = sorted(set.intersection(*(set(f) for f in flat))) if flat else []
    differing = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    choices = [k for k in differing if any(isinstance(f.get(k), _Choice) for f in flat)]
    return [
        k
        for k in differing
        if not any(k == n or k.startswith(f"{n}.") for n in NOT_SWEPT)
        and not any(k.startswith(f"{c}.") for c in choices)
    ]


class _Choice(str):
    """A config group choice in a flattened config (the module stem of its ``_target_``)."""


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if "_target_" in value:
                flat[name] = _Choice(value["_target_"].split(".")[-2])
            flat |= _flatten({k: v for k, v in value.items() if k != "_target_"}, f"{name}.")
        else:
            flat[name] = value
    return flat


def _group_value(run: dict[str, Any], key: str) -> Any:
    value = lookup(run["config"], key)
    if isinstance(value, dict) and "_target_" in value:  # a group choice: its module stem
        return value["_target_"].split(".")[-2]
    return value


def _column_value(run: dict[str, Any], column: str) -> float:
    if column.startswith("run."):
        return run["run"].get(column[4:], math.nan)
    return run["metrics"].get(column, math.nan)


def to_markdown(
    rows: Sequence[dict[str, Any]], group_by: Sequence[str], columns: Sequence[str]
) -> str:
    header = [*group_by, "runs", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row[k]) for k in group_by] + [str(row["runs"])]
        cells += [_mean_std(*row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]], group_by: Sequence[str], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*group_by, "runs", *(f"{c} {s}" for c in columns for s in ("mean", "std"))])
    for row in rows:
        writer.writerow(
            [*(row[k] for k in group_by), row["runs"], *(v for c in columns for v in row[c])]
        )
    return out.getvalue()


def _mean_std(mean: float, std: float) -> str:
    return f"{mean:.3g}" if math.isnan(std) else f"{mean:.3g} ± {std:.2g}"


def print_rows(rows, group_by, columns, title: str, failed: Sequence[Path]) -> None:
    table = Table(title=title)
    for header in [*group_by, "runs", *columns]:
        table.add_column(header, justify="left" if header in group_by else "right")
    for row in rows:
        table.add_row(
            *(str(row[k]) for k in group_by),
            str(row["runs"]),
            *(_mean_std(*row[c]) for c in columns),
        )
    console = Console()
    console.print(table)
    for job in failed:
        console.print(f"[red]failed:[/red] {job}: {failure_reason(job)}")


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, tabulate its runs grouped by ``group_by``."""

    def __init__(
        self,
        *,
        group_by: Sequence[str],
        columns: Sequence[str],
        title: str,
        name: str = "summary",
    ) -> None:
        """name: the stem of the files written (``<name>.md``, ``<name>.csv``), so that one
        sweep can carry several reports."""
        self.group_by, self.columns, self.title = list(group_by), list(columns), title
        self.name = name

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        runs, failed = load_runs(sweep_dir)
        rows = summarize(runs, self.group_by, self.columns)
        markdown = to_markdown(rows, self.group_by, self.columns)
        if failed:
            markdown += "\nFailed runs (no metrics.json):\n\n" + "".join(
                f"- {job.name}: {failure_reason(job)}\n" for job in failed
            )
        atomic_write(
            sweep_dir / f"{self.name}.md",
            lambda f: f.write(f"# {self.title}\n\n{markdown}".encode()),
        )
        csv_text = to_csv(rows, self.group_by, self.columns)
        atomic_write(sweep_dir / f"{self.name}.csv", lambda f: f.write(csv_text.encode()))
        print_rows(rows, self.group_by, self.columns, self.title, failed)
        if failed:  # every other job's results are kept and reported; the sweep still failed
            sys.exit(f"{len(failed)} of {len(runs) + len(failed)} jobs failed; see {sweep_dir}")


DEFAULT_COLUMNS = (
    "rollout/normalized_return",
    "iqm:rollout/normalized_return",
    "rollout/success",
    "shift/dataset_nll",
    "shift/on_policy_nll",
    "shift/gap",
    "expert/labels",
    "run.train_time_s",
)


def main(argv: Sequence[str] | None = None) -> None:
    """``bcx-report DIR [DIR ...]``: tables and figures for any set of runs and sweeps."""
    parser = argparse.ArgumentParser(prog="bcx-report", description=main.__doc__)
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--by", nargs="*", help="config keys to group by (default: the swept ones)")
    parser.add_argument(
        "--columns",
        nargs="*",
        default=list(DEFAULT_COLUMNS),
        help="metrics, run.* fields, or iqm:<metric>",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <first dir>/report)")
    args = parser.parse_args(argv)
    try:
        write_report(args.dirs, args.by, args.columns, args.out or args.dirs[0] / "report")
    except BCXError as error:
        exit_with("bcx-report", error)


def write_report(
    dirs: Sequence[Path], by: Sequence[str] | None, columns: Sequence[str], out: Path
) -> Path:
    """report.md, report.csv and the figures in ``out``; returns report.md's path."""
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise BCXError(f"no such folder: {', '.join(missing)}.")
    runs, failed = find_runs(dirs)
    if not runs and not failed:
        raise BCXError(
            f"no bcx runs under {', '.join(map(str, dirs))}: no folder there holds a "
            f"{METRICS_FILE}, a {FAILED_FILE} or a Hydra job config (.hydra/config.yaml)."
        )
    group_by = list(by) if by else swept_keys(runs)
    rows = summarize(runs, group_by, columns) if runs else []
    out.mkdir(parents=True, exist_ok=True)
    figures = report_figures(runs, group_by, out)
    markdown = f"# bcx report: {len(runs)} runs\n\n" + to_markdown(rows, group_by, columns)
    markdown += "".join(f"\n![{p.stem}]({p.name})\n" for p in figures)
    if failed:
        markdown += "\nFailed runs:\n\n" + "".join(
            f"- {job}: {failure_reason(job)}\n" for job in failed
        )
    atomic_write(out / "report.md", lambda f: f.write(markdown.encode()))
    csv_text = to_csv(rows, group_by, columns)
    atomic_write(out / "report.csv", lambda f: f.write(csv_text.encode()))
    print_rows(rows, group_by, columns, f"bcx report ({out})", failed)
    return out / "report.md"


def report_figures(runs: Sequence[dict[str, Any]], group_by: Sequence[str], out: Path):
    """The figures a report links: dataset vs on-policy NLL over training (from the CSV logs),
    normalized return per group, and compounding-error curves per group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        label = ", ".join(f"{k}={_group_value(run, k)}" for k in group_by) or "all runs"
        groups.setdefault(label, []).append(run)
    made = [
        figures.training_curves(
            {g: [read_log(Path(r["dir"])) for r in members] for g, members in groups.items()},
            out / "nll_over_training.png",
        ),
        figures.returns_by_group(
            {
                g: [_column_value(r, "rollout/normalized_return") for r in m]
                for g, m in groups.items()
            },
            out / "normalized_return.png",
        ),
        figures.compounding_curves(
            {
                g: [r.get("curves", {}).get("compounding_error", {}) for r in m]
                for g, m in groups.items()
            },
            out / "compounding_error.png",
        ),
    ]
    return [path for path in made if path is not None]


def read_log(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """{metric: [(step, value), ...]} from a run's CSV log (logger=csv), {} without one."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return {}
    series: dict[str, list[tuple[float, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(key, []).append((float(row["step"]), float(value)))
    return series
