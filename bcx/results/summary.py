"""The end of a run: a terminal table of the final metrics and ``metrics.json`` for reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def print_table(metrics: dict[str, float], title: str, lines: Sequence[str] = ()) -> None:
    """Metrics grouped by their ``split/`` prefix, in a rich table, then ``lines`` (the
    reading) under it."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, _format(metrics[name]))
    console = Console()
    console.print(table)
    for line in lines:
        console.print(line, highlight=False)


def reading(metrics: dict[str, float], *, unit: str = "nats") -> list[str]:
    """Two plain sentences under the table, written from the final metrics: how far the loss on
    the policy's own states is above its training loss (per-state medians, so a few extreme
    states cannot flip it), and how much of the expert's return the policy earns. ``unit``:
    "nats" for heads with a density, else the name of the loss they train on."""
    lines = []
    gap = metrics.get("shift/gap_median")
    if gap is not None and math.isfinite(gap):
        on_policy, train = metrics["shift/on_policy_nll_median"], metrics["shift/train_nll_median"]
        medians = f"median per-state loss {on_policy:.3g} against {train:.3g}"
        if gap > 0:
            lines.append(
                f"On the states it visits itself the policy's loss is {gap:.3g} {unit} above its "
                f"training loss ({medians}): distribution shift."
            )
        else:
            lines.append(
                f"On the states it visits itself the policy's loss is not above its training "
                f"loss ({medians}): no sign of distribution shift."
            )
    share = metrics.get("rollout/normalized_return")
    if share is not None and math.isfinite(share):
        sentence = f"It earns {100 * share:.0f}% of the expert's return"
        if "rollout/success" in metrics:
            sentence += f" and succeeds in {100 * metrics['rollout/success']:.0f}% of episodes"
        lines.append(sentence + " (0% is a uniform random policy).")
    return lines


def _format(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))  # counts, step numbers
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.1f}"
