"""The lecture's open question, per task: how much of BC's gap to the expert is closed by fixing
distribution shift (``mitigation=dagger``) and how much by fixing implicit smoothing (an
expressive head, ``policy=gmm``)?

A 2x2 per task (head in {gaussian, gmm} x mitigation in {none, dagger}), a few seeds each, plus a
control: the Gaussian trained as many steps as DAgger's fits add up to, on the demos alone, so
that DAgger's data is not credited with what longer training does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcx.paper.output import Artifact, plt, save_figure, write_table
from bcx.paper.runs import Scale, Spec, fmt, fork, lane, mean_std, metric

NAME = "diagnosis"
TITLE = "Diagnosis: distribution shift or implicit smoothing?"
TASKS = {"lane": lane, "fork": fork}
CELLS = (("gaussian", "none"), ("gaussian", "dagger"), ("gmm", "none"), ("gmm", "dagger"))
FIXES = {  # what each cell fixes, relative to plain BC (gaussian, none)
    ("gaussian", "dagger"): "shift",
    ("gmm", "none"): "smoothing",
    ("gmm", "dagger"): "both",
    "control": "more steps",
}


def rounds(scale: Scale, task: str) -> int:
    return scale.lane_rounds if task == "lane" else scale.fork_rounds


def steps(scale: Scale, task: str) -> int:
    return scale.lane_steps if task == "lane" else scale.fork_steps


def cell(scale: Scale, task: str, key, seed: int) -> Spec:
    """The run of a 2x2 cell (head, mitigation), or of the control (key "control")."""
    if key == "control":
        return TASKS[task](scale, seed=seed, steps=steps(scale, task) * rounds(scale, task))
    head, mitigation = key
    return TASKS[task](scale, seed=seed, policy=head, mitigation=mitigation)


def specs(scale: Scale) -> list[Spec]:
    keys = [*CELLS, "control"]
    return [cell(scale, t, k, s) for t in TASKS for k in keys for s in scale.seeds]


def measure(scale: Scale, task: str, runs: dict[Spec, dict]) -> dict:
    """Per cell: per-seed normalized returns and successes, and the share of the gap closed."""
    cells = {}
    for key in [*CELLS, "control"]:
        results = [runs[cell(scale, task, key, s)] for s in scale.seeds]
        cells[key] = {
            "return": [metric(r, "rollout/normalized_return") for r in results],
            "success": [metric(r, "rollout/success") for r in results],
        }
    bc = mean_std(cells[CELLS[0]]["return"])[0]
    gap = 1.0 - bc
    for values in cells.values():
        values["share"] = (mean_std(values["return"])[0] - bc) / gap if gap > 0.05 else np.nan
    return {"cells": cells, "bc": bc, "gap": gap}


def verdict(task: str, measured: dict) -> str:
    """Which fix closes more of the gap, in words, from the measured shares."""
    cells = measured["cells"]
    if np.isnan(cells[CELLS[0]]["share"]):
        return f"on {task} plain BC is within 0.05 of the expert: there is no gap to divide"
    shift, smooth = cells[("gaussian", "dagger")]["share"], cells[("gmm", "none")]["share"]
    control = cells["control"]["share"]
    if max(shift, smooth) < 0.25:
        words = "neither fix alone closes a quarter of the gap"
    elif abs(shift - smooth) < 0.25:
        words = "the two fixes close comparable shares"
    else:
        words = ("distribution shift" if shift > smooth else "implicit smoothing") + " dominates"
    return (
        f"on {task} fixing distribution shift (DAgger) closes {shift:.0%} of BC's gap, fixing "
        f"implicit smoothing (gmm) {smooth:.0%}, both {cells[('gmm', 'dagger')]['share']:.0%}: "
        f"{words}; training the Gaussian as long as DAgger does, without its data, closes "
        f"{control:.0%}"
    )


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    made, summary, shares = [], [], {}
    seeds = ", ".join(map(str, scale.seeds))
    for task in TASKS:
        measured = measure(scale, task, runs)
        rows = []
        for key, values in measured["cells"].items():
            head, mitigation = ("gaussian", "none") if key == "control" else key
            fits = rounds(scale, task) if mitigation == "dagger" else 1
            per_fit = steps(scale, task) * (rounds(scale, task) if key == "control" else 1)
            rows.append(
                [
                    f"`{head}`",
                    f"`{mitigation}`",
                    f"{fits} x {per_fit}",
                    fmt(values["return"]),
                    fmt(values["success"]),
                    "BC" if key == CELLS[0] else f"{values['share']:.0%} ({FIXES[key]})",
                ]
            )
        words = verdict(task, measured)
        caption = (
            f"{task}: normalized return (random 0, expert 1) and success, mean ± std over seeds "
            f"{seeds}, of the 2x2 head x mitigation and of the control (last row: the Gaussian "
            f"without DAgger's data, trained as many steps as DAgger's {rounds(scale, task)} "
            f"fits). Share: (return - BC's) / (1 - BC's), BC = gaussian + none at "
            f"{measured['bc']:.2f}. Result: {words}."
        )
        header = ["head", "mitigation", "fits x steps", "normalized return", "success",
                  "share of BC's gap closed"]  # fmt: skip
        made.append(write_table(out, f"table_diagnosis_{task}", f"Diagnosis on {task}",
                                caption, header, rows))  # fmt: skip
        shares[task] = {FIXES[k]: v["share"] for k, v in measured["cells"].items() if k in FIXES}
        summary.append(words)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    labels = list(FIXES.values())
    width = 0.8 / len(TASKS)
    for index, (task, values) in enumerate(shares.items()):
        x = np.arange(len(labels)) + (index - (len(TASKS) - 1) / 2) * width
        ax.bar(x, [values[k] for k in labels], width, label=task)
    ax.set_xticks(np.arange(len(labels)), ["DAgger\n(shift)", "gmm\n(smoothing)", "gmm + DAgger",
                                            "longer BC\n(control)"])  # fmt: skip
    ax.axhline(0, color="k", lw=0.8)
    ax.axhline(1, color="k", lw=0.8, ls=":")
    ax.set_ylabel("share of BC's gap to the expert closed")
    ax.legend(fontsize=8)
    caption = (
        f"Share of plain BC's gap (1 - its normalized return) closed by each fix, per task, "
        f"from the means over seeds {seeds} in the two diagnosis tables. Result: "
        f"{'; '.join(summary)}."
    )
    made.insert(0, save_figure(fig, out, "fig_diagnosis", "Diagnosis", caption))
    return made
