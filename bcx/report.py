"""Sweep results as tables: read every run's ``metrics.json``, group by the swept keys, summarize.

Used by experiment configs as a Hydra callback (``SweepReport``): when a multirun ends it prints
the table and writes ``summary.md`` and ``summary.csv`` into the sweep directory. Runs without a
``metrics.json`` (failed jobs) are listed as failed, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from bcx.io import atomic_write
from bcx.summary import FAILED_FILE, METRICS_FILE


def load_runs(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """(finished runs' metrics.json contents, job folders without one) under ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    jobs = sorted(p.parent.parent for p in sweep_dir.glob("*/.hydra/config.yaml"))
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
