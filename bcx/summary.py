"""The end of a run: a terminal table of the final metrics and ``metrics.json`` for reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bcx.io import atomic_write_json

METRICS_FILE = "metrics.json"
FAILED_FILE = "failed.json"  # {"error": message}: a sweep job that stopped on bad input or NaN


def write_metrics(run_dir: str | Path, metrics: dict[str, float], **extra: Any) -> Path:
    """Atomically write ``{"metrics": ..., **extra}`` to ``<run_dir>/metrics.json``."""
    path = Path(run_dir) / METRICS_FILE
    atomic_write_json(path, {"metrics": metrics, **extra})
    return path


def print_table(metrics: dict[str, float], title: str) -> None:
    """Metrics grouped by their ``split/`` prefix, in a rich table."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, _format(metrics[name]))
    Console().print(table)


def _format(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))  # counts, step numbers
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.1f}"
