"""Sweep results as tables: read every run's ``metrics.json``, group by the swept keys, summarize
each group over its seeds: mean, IQM and a seeded 95% bootstrap interval (``bcx.stats``),
resampling seeds within each task when a group pools several (the swept keys not grouped by).

Used by experiment configs as a Hydra callback (``SweepReport``): when a multirun ends it prints
the table and writes ``summary.md`` and ``summary.csv`` into the sweep directory. Runs without a
readable ``metrics.json`` (failed jobs, or one a kill or a full disk cut short) are listed as
failed, never silently dropped, and make the sweep and ``bcx-report`` end with a non-zero exit.
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

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from bcx import stats
from bcx.errors import BCXError, exit_with
from bcx.io import atomic_write
from bcx.results import figures
from bcx.results.summary import FAILED_FILE, METRICS_FILE


def load_runs(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """(finished runs' metrics.json contents, job folders without a readable one) under
    ``sweep_dir``."""
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
        run = read_metrics(job / METRICS_FILE)
        if run is not None:
            finished.append({**run, "dir": str(job)})
        else:
            failed.append(job)
    return finished, failed


def read_metrics(path: Path) -> dict[str, Any] | None:
    """A run's metrics.json, or None when it is missing or not a whole one."""
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):  # ValueError: not JSON (cut short), or not UTF-8
        return None
    whole = isinstance(run, dict) and all(
        isinstance(run.get(part), dict) for part in ("metrics", "run", "config")
    )
    return run if whole else None


def failure_reason(job: Path) -> str:
    """The error a failed job recorded, or what is known without one."""
    try:
        return json.loads((job / FAILED_FILE).read_text())["error"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if (job / METRICS_FILE).exists():  # there, but not a whole one
        return (
            f"{job / METRICS_FILE} is damaged (not a whole metrics file: cut short by a kill or "
            "a full disk?); rerun that job to write it again"
        )
    return "no error recorded (killed, or an unexpected exception: see its log)"


def lookup(config: dict[str, Any], dotted: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; the value of a swept key in a run's resolved config."""
    for part in dotted.split("."):
        config = config[part]
    return config


def metric_columns(columns: Sequence[str]) -> list[tuple[str, str]]:
    """[(metric, statistic its interval is for)] from the requested columns: ``iqm:<metric>``
    asks for the IQM's interval (rliable's headline), a plain metric for the mean's; a metric
    requested both ways is one entry, with the IQM's interval."""
    wanted: dict[str, str] = {}
    for column in columns:
        name = column.removeprefix("iqm:")
        if column.startswith("iqm:") or name not in wanted:
            wanted[name] = "iqm" if column.startswith("iqm:") else "mean"
    return list(wanted.items())


def summarize(
    runs: Sequence[dict[str, Any]],
    group_by: Sequence[str],
    columns: Sequence[str],
    strata: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per group: the group's key values, run count, and per metric a
    ``bcx.stats.Summary`` over its runs (mean, std, IQM, 95% bootstrap interval).

    A column is a metric name (``rollout/return``) or a ``run.*`` field (``run.train_time_s``);
    ``iqm:<column>`` makes the interval the IQM's (the mean of the middle 50% of runs, as rliable
    and the imitation library's benchmark summarize) instead of the mean's. ``strata``: config
    keys whose values tell a group's tasks apart (runs pooled over tasks): seeds are resampled
    within each task.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        key = tuple(str(_group_value(run, k)) for k in group_by)
        groups.setdefault(key, []).append(run)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = dict(zip(group_by, key, strict=True)) | {"runs": len(members)}
        labels = [stratum(r, strata) for r in members] if strata else None
        for name, of in metric_columns(columns):
            values = [_column_value(r, name) for r in members]
            row[name] = stats.summarize(values, of, labels)
        rows.append(row)
    return rows


def stratum(run: dict[str, Any], strata: Sequence[str]) -> tuple[str, ...]:
    """The run's task: its values of the ``strata`` keys (a missing key counts as a value)."""
    values = []
    for key in strata:
        try:
            values.append(repr(_group_value(run, key)))
        except (KeyError, TypeError):
            values.append("<missing>")
    return tuple(values)


interquartile_mean = stats.iqm  # moved to bcx.stats; kept for existing imports


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
    """A run's value of a group-by key; "-" where its config has no such key (mitigation.method
    of a mitigation without methods)."""
    try:
        value = lookup(run["config"], key)
    except (KeyError, TypeError):
        return "-"
    if isinstance(value, dict) and "_target_" in value:  # a group choice: its module stem
        return value["_target_"].split(".")[-2]
    return value


def _column_value(run: dict[str, Any], column: str) -> float:
    if column.startswith("run."):
        return run["run"].get(column[4:], math.nan)
    return run["metrics"].get(column, math.nan)


def header(group_by: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The table's column names: per metric its mean, IQM and interval (of the mean or IQM)."""
    names = [*group_by, "runs"]
    for name, of in metric_columns(columns):
        ci = f"{stats.CONFIDENCE:.0%} CI ({'IQM' if of == 'iqm' else 'mean'})"
        names += [f"{name} mean", f"{name} IQM", f"{name} {ci}"]
    return names


def cells(row: dict[str, Any], group_by: Sequence[str], columns: Sequence[str]) -> list[str]:
    out = [str(row[k]) for k in group_by] + [str(row["runs"])]
    for name, _ in metric_columns(columns):
        summary = row[name]
        out += [stats.number(summary.mean), stats.number(summary.iqm), stats.interval(summary)]
    return out


def method_line(strata: Sequence[str]) -> str:
    """What the intervals are, for the header of a table."""
    line = f"Per group: mean, IQM (mean of the middle 50% of runs) and {stats.method()}"
    if strata:
        line += f"; tasks here: the values of {', '.join(strata)}"
    return line + ". n=1: a single run, no interval; -: a task with a single run."


def to_markdown(
    rows: Sequence[dict[str, Any]], group_by: Sequence[str], columns: Sequence[str]
) -> str:
    names = header(group_by, columns)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cells(row, group_by, columns)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]], group_by: Sequence[str], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = metric_columns(columns)
    fields = ("mean", "std", "iqm", "ci_low", "ci_high")
    writer.writerow(
        [*group_by, "runs"]
        + [
            f"{m} {f}" if not f.startswith("ci") else f"{m} {of} {f}"
            for m, of in metrics
            for f in fields
        ]  # fmt: skip
    )
    for row in rows:
        values = [getattr(row[m], f.removeprefix("ci_")) for m, _ in metrics for f in fields]
        writer.writerow([*(row[k] for k in group_by), row["runs"], *values])
    return out.getvalue()


def print_rows(rows, group_by, columns, title: str, failed: Sequence[Path]) -> None:
    table = Table(title=title)
    for name in header(group_by, columns):
        table.add_column(name, justify="left" if name in group_by else "right")
    for row in rows:
        table.add_row(*cells(row, group_by, columns))
    console = Console()
    console.print(table)
    for job in failed:
        console.print(f"[red]failed:[/red] {job}: {failure_reason(job)}")


def default_strata(runs: Sequence[dict[str, Any]], group_by: Sequence[str]) -> list[str]:
    """The swept keys a table does not group by: a group pools runs over their values (tasks),
    so its seeds are resampled within each."""
    return [k for k in swept_keys(runs) if k not in group_by]


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, tabulate its runs grouped by ``group_by``."""

    def __init__(
        self,
        *,
        group_by: Sequence[str],
        columns: Sequence[str],
        title: str,
        name: str = "summary",
        strata: Sequence[str] | None = None,
    ) -> None:
        """name: the stem of the files written (``<name>.md``, ``<name>.csv``), so that one
        sweep can carry several reports. strata: the keys that tell a group's tasks apart
        (seeds are resampled within each); default: the swept keys not grouped by."""
        self.group_by, self.columns, self.title = list(group_by), list(columns), title
        self.name = name
        self.strata = None if strata is None else list(strata)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        runs, failed = load_runs(sweep_dir)
        strata = default_strata(runs, self.group_by) if self.strata is None else self.strata
        rows = summarize(runs, self.group_by, self.columns, strata)
        markdown = method_line(strata) + "\n\n" + to_markdown(rows, self.group_by, self.columns)
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


# The shift readings are the per-state medians (robust to the heavy tails of on-policy NLLs).
DEFAULT_COLUMNS = (
    "iqm:rollout/normalized_return",
    "rollout/success",
    "shift/train_nll_median",
    "shift/dataset_nll_median",
    "shift/on_policy_nll_median",
    "shift/gap_median",
    "expert/labels",
    "run.train_time_s",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``bcx-report DIR [DIR ...]``: tables and figures for any set of runs and sweeps. Returns
    the exit status: 1 when it lists failed runs (after writing the report), else 0."""
    parser = argparse.ArgumentParser(prog="bcx-report", description=main.__doc__)
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--by", nargs="*", help="config keys to group by (default: the swept ones)")
    parser.add_argument(
        "--columns",
        nargs="*",
        default=list(DEFAULT_COLUMNS),
        help="metrics, run.* fields, or iqm:<metric> (interval of the IQM, not the mean)",
    )
    parser.add_argument(
        "--strata",
        nargs="*",
        help="config keys whose values are a group's tasks: seeds are resampled within each "
        "(default: the swept keys not grouped by)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <first dir>/report)")
    args = parser.parse_args(argv)
    out = args.out or args.dirs[0] / "report"
    try:
        path, failed = write_report(args.dirs, args.by, args.columns, out, args.strata)
    except BCXError as error:
        exit_with("bcx-report", error)
    if failed:
        runs = "a failed run" if len(failed) == 1 else f"{len(failed)} failed runs"
        print(f"bcx-report: {runs}, listed above and in {path}", file=sys.stderr)
    return int(bool(failed))


def write_report(
    dirs: Sequence[Path],
    by: Sequence[str] | None,
    columns: Sequence[str],
    out: Path,
    strata: Sequence[str] | None = None,
) -> tuple[Path, list[Path]]:
    """report.md, report.csv and the figures in ``out``; returns report.md's path and the
    failed runs' folders (listed in it)."""
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
    strata = default_strata(runs, group_by) if strata is None else list(strata)
    rows = summarize(runs, group_by, columns, strata) if runs else []
    out.mkdir(parents=True, exist_ok=True)
    figures = report_figures(runs, group_by, out, strata)
    markdown = f"# bcx report: {len(runs)} runs\n\n{method_line(strata)}\n\n"
    markdown += to_markdown(rows, group_by, columns)
    markdown += "".join(f"\n![{p.stem}]({p.name})\n" for p in figures)
    if failed:
        markdown += "\nFailed runs:\n\n" + "".join(
            f"- {job}: {failure_reason(job)}\n" for job in failed
        )
    atomic_write(out / "report.md", lambda f: f.write(markdown.encode()))
    csv_text = to_csv(rows, group_by, columns)
    atomic_write(out / "report.csv", lambda f: f.write(csv_text.encode()))
    print_rows(rows, group_by, columns, f"bcx report ({out})", failed)
    return out / "report.md", failed


def report_figures(
    runs: Sequence[dict[str, Any]], group_by: Sequence[str], out: Path, strata: Sequence[str] = ()
):
    """The figures a report links: train, dataset and on-policy NLL (per-state medians) over
    training (from the CSV logs), normalized return per group (mean, IQM, 95% bootstrap
    interval, stratified by ``strata``), and compounding-error curves per group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        label = ", ".join(f"{k}={_group_value(run, k)}" for k in group_by) or "all runs"
        groups.setdefault(label, []).append(run)
    returns = {
        g: stats.summarize(
            [_column_value(r, "rollout/normalized_return") for r in m],
            "mean",
            [stratum(r, strata) for r in m] if strata else None,
        )
        for g, m in groups.items()
    }
    made = [
        figures.training_curves(
            {g: [read_log(Path(r["dir"])) for r in members] for g, members in groups.items()},
            out / "nll_over_training.png",
        ),
        figures.returns_by_group(returns, out / "normalized_return.png"),
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
