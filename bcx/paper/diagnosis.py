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

from bcx import stats
from bcx.paper.output import Artifact, plt, save_figure, write_table
from bcx.paper.runs import (
    STAT_COLUMNS,
    Scale,
    Spec,
    fmt,
    fork,
    lane,
    mean_std,
    method_note,
    metric,
    paired,
    stat_cells,
)

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
    """Per cell: per-seed normalized returns and successes, the share of BC's gap closed (from
    the means over seeds) with the 95% CI of that share (the seed-by-seed difference to BC's
    return over BC's mean gap), and on how many seeds the cell's return is above BC's."""
    cells = {}
    for key in [*CELLS, "control"]:
        results = [runs[cell(scale, task, key, s)] for s in scale.seeds]
        cells[key] = {
            "return": [metric(r, "rollout/normalized_return") for r in results],
            "success": [metric(r, "rollout/success") for r in results],
        }
    bc_returns = cells[CELLS[0]]["return"]
    bc = mean_std(bc_returns)[0]
    gap = 1.0 - bc
    for values in cells.values():
        k, n, difference = paired(values["return"], bc_returns)
        values["above"] = (k, n)
        values["share"] = difference.mean / gap if gap > 0.05 else np.nan
        values["share_ci"] = (
            (difference.low / gap, difference.high / gap) if gap > 0.05 else (np.nan, np.nan)
        )
    return {"cells": cells, "bc": bc, "gap": gap}


def share_text(values: dict) -> str:
    """ "62% (95% CI [40%, 80%]; above BC on 9 of 10 seeds)"."""
    low, high = values["share_ci"]
    ci = "no CI" if np.isnan(low) else f"95% CI [{low:.0%}, {high:.0%}]"
    return f"{values['share']:.0%} ({ci}; return above BC's {stats.holds_on(*values['above'])})"


def verdict(task: str, measured: dict) -> str:
    """Which fix closes more of the gap, in words, from the measured shares."""
    cells = measured["cells"]
    if np.isnan(cells[CELLS[0]]["share"]):
        return f"on {task} plain BC is within 0.05 of the expert: there is no gap to divide"
    shift, smooth = cells[("gaussian", "dagger")]["share"], cells[("gmm", "none")]["share"]
    if max(shift, smooth) < 0.25:
        words = "neither fix alone closes a quarter of the gap"
    elif abs(shift - smooth) < 0.25:
        words = "the two fixes close comparable shares"
    else:
        words = ("distribution shift" if shift > smooth else "implicit smoothing") + " dominates"
    dagger, gmm = cells[("gaussian", "dagger")], cells[("gmm", "none")]
    k, n, _ = paired(dagger["return"], gmm["return"])
    return (
        f"on {task} fixing distribution shift (DAgger) closes {share_text(dagger)} of BC's gap, "
        f"fixing implicit smoothing (gmm) {share_text(gmm)}, both "
        f"{share_text(cells[('gmm', 'dagger')])}: {words} (DAgger's return above gmm's "
        f"{stats.holds_on(k, n)}); training the Gaussian as long as DAgger does, without its "
        f"data, closes {share_text(cells['control'])}"
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
            low, high = values["share_ci"]
            rows.append(
                [
                    f"`{head}`",
                    f"`{mitigation}`",
                    f"{fits} x {per_fit}",
                    *stat_cells(values["return"]),
                    fmt(values["success"]),
                    "BC" if key == CELLS[0] else f"{values['share']:.0%} ({FIXES[key]})",
                    "-" if key == CELLS[0] or np.isnan(low) else f"[{low:.0%}, {high:.0%}]",
                    "-" if key == CELLS[0] else "{}/{}".format(*values["above"]),
                ]
            )
        words = verdict(task, measured)
        bc_returns = measured["cells"][CELLS[0]]["return"]
        caption = (
            f"{task}: normalized return (random 0, expert 1): mean, IQM and 95% CI over seeds "
            f"{seeds} (each seed its own demos); success: mean [95% CI]; of the 2x2 head x "
            "mitigation and of the control (last row: the Gaussian without DAgger's data, "
            f"trained as many steps as DAgger's {rounds(scale, task)} fits). Share: (return - "
            f"BC's) / (1 - BC's), BC = gaussian + none at {fmt(bc_returns)}; "
            "its CI: the 95% CI of the mean seed-by-seed difference to BC's return, over BC's "
            "mean gap; above BC: seeds on which the cell's return is above BC's (same seed, "
            f"same demos). Result: {words}. {method_note()}."
        )
        header = ["head", "mitigation", "fits x steps",
                  *(f"normalized return {c}" for c in STAT_COLUMNS), "success",
                  "share of BC's gap closed", "share 95% CI", "above BC (seeds)"]  # fmt: skip
        made.append(write_table(out, f"table_diagnosis_{task}", f"Diagnosis on {task}",
                                caption, header, rows))  # fmt: skip
        shares[task] = {FIXES[k]: v for k, v in measured["cells"].items() if k in FIXES}
        summary.append(words)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    labels = list(FIXES.values())
    width = 0.8 / len(TASKS)
    for index, (task, values) in enumerate(shares.items()):
        x = np.arange(len(labels)) + (index - (len(TASKS) - 1) / 2) * width
        share = np.array([values[k]["share"] for k in labels])
        low = np.array([values[k]["share_ci"][0] for k in labels])
        high = np.array([values[k]["share_ci"][1] for k in labels])
        error = np.clip(np.nan_to_num(np.stack([share - low, high - share])), 0, None)
        ax.bar(x, share, width, yerr=error, capsize=3, label=task)
    ax.set_xticks(np.arange(len(labels)), ["DAgger\n(shift)", "gmm\n(smoothing)", "gmm + DAgger",
                                            "longer BC\n(control)"])  # fmt: skip
    ax.axhline(0, color="k", lw=0.8)
    ax.axhline(1, color="k", lw=0.8, ls=":")
    ax.set_ylabel("share of BC's gap to the expert closed")
    ax.legend(fontsize=8)
    caption = (
        f"Share of plain BC's gap (1 - its normalized return) closed by each fix, per task, "
        f"from the means over seeds {seeds} in the two diagnosis tables; bars: the share's 95% "
        f"CI (the mean seed-by-seed difference to BC over BC's mean gap). Result: "
        f"{'; '.join(summary)}. {method_note()}."
    )
    made.insert(0, save_figure(fig, out, "fig_diagnosis", "Diagnosis", caption))
    return made
