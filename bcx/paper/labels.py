"""Figure and table: DAgger against BC at equal numbers of expert labels (Ross et al. 2011).

BC gets more expert demos; DAgger starts from 2 training demos and each round adds the expert's
labels on the states its learner visits. Each DAgger round's fit is measured at its end
(``metrics.json``'s ``rounds``), so one DAgger run gives one point per round.
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
    above_text,
    fmt,
    lane,
    mean_std,
    method_note,
    metric,
    seed_text,
    stat_cells,
    summary,
)

NAME = "labels"
TITLE = "Figure and table: DAgger vs BC by expert labels"
GOOD = 0.95  # normalized return counted as reaching the expert
TIE = 0.02  # normalized returns closer than this count as equal


def dagger_run(scale: Scale, seed: int) -> Spec:
    """The mitigation table's DAgger run: from 2 training demos (plus one held out), then
    rounds of the learner's episodes; its per-round measurements are this piece's points."""
    return lane(scale, seed=seed, mitigation="dagger")


def specs(scale: Scale) -> list[Spec]:
    bc = [lane(scale, seed=s, episodes=e) for e in scale.label_demos for s in scale.seeds]
    return bc + [dagger_run(scale, s) for s in scale.seeds]


def curves(scale: Scale, runs: dict[Spec, dict]) -> dict[str, list[dict]]:
    """{"BC": points, "DAgger": points}; a point: label, per-seed labels/return/success."""
    bc = []
    for episodes in scale.label_demos:
        results = [runs[lane(scale, seed=s, episodes=episodes)] for s in scale.seeds]
        bc.append(
            {
                "label": f"{episodes - 1} demo{'s' if episodes > 2 else ''}",
                "labels": [metric(r, "expert/labels") for r in results],
                "return": [metric(r, "rollout/normalized_return") for r in results],
                "success": [metric(r, "rollout/success") for r in results],
            }
        )
    rounds = [runs[dagger_run(scale, s)]["rounds"] for s in scale.seeds]
    dagger = [
        {
            "label": f"round {index}",
            "labels": [r[index]["expert/labels"] for r in rounds],
            "return": [r[index]["rollout/normalized_return"] for r in rounds],
            "success": [r[index].get("rollout/success", np.nan) for r in rounds],
        }
        for index in range(min(len(r) for r in rounds))
    ]
    return {"BC": bc, "DAgger": dagger}


def first_good(points: list[dict]) -> str:
    """The fewest labels at which the mean normalized return over seeds reaches GOOD, with its
    interval and on how many seeds that point reaches GOOD."""
    for point in points:
        if mean_std(point["return"])[0] >= GOOD:
            k, n = stats.count_holds([v >= GOOD for v in point["return"]])
            return (
                f"{mean_std(point['labels'])[0]:.0f} labels ({point['label']}: "
                f"{fmt(point['return'])}, {GOOD} reached {stats.holds_on(k, n)})"
            )
    return f"not within {mean_std(points[-1]['labels'])[0]:.0f} labels"


def matched(bc: list[dict], rounds: list[dict]) -> str:
    """Each DAgger round after the first against the BC point nearest in labels, in words,
    seed by seed (a seed's DAgger and BC runs start from the same demos)."""
    outcome, lines = {"better": 0, "equal": 0, "worse": 0}, []
    bc_labels = np.array([mean_std(p["labels"])[0] for p in bc])
    for point in rounds[1:]:
        labels = mean_std(point["labels"])[0]
        near = bc[int(np.argmin(np.abs(bc_labels - labels)))]
        ours, theirs = mean_std(point["return"])[0], mean_std(near["return"])[0]
        outcome[
            "equal" if abs(ours - theirs) < TIE else "better" if ours > theirs else "worse"
        ] += 1
        lines.append(
            f"{point['label']} ({labels:.0f} labels) {ours:.2f} vs BC {near['label']} "
            f"({mean_std(near['labels'])[0]:.0f}) {theirs:.2f}, "
            + above_text(point["return"], near["return"], "DAgger above")
        )
    counts = ", ".join(f"{v} {k}" for k, v in outcome.items())
    return (
        f"At matched budgets (each DAgger round against the BC point nearest in labels; equal: "
        f"mean within {TIE}) DAgger is {counts} of {len(rounds) - 1}: {'; '.join(lines)}"
    )


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    points = curves(scale, runs)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for color, (method, series) in zip(("C0", "C3"), points.items(), strict=True):
        x = [mean_std(p["labels"])[0] for p in series]
        y = [summary(p["return"]) for p in series]
        means = np.array([s.mean for s in y])
        error = np.stack([means - [s.low for s in y], [s.high for s in y] - means])
        error = np.clip(np.nan_to_num(error), 0, None)  # one seed: no interval, no bar
        ax.errorbar(x, means, yerr=error, color=color, marker="o", capsize=3, label=method)
        for p in series:
            ax.scatter(p["labels"], p["return"], color=color, s=8, alpha=0.4)
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="expert")
    ax.set_xlabel("expert labels (state-action pairs, held-out episode included)")
    ax.set_ylabel("normalized return (random 0, expert 1)")
    ax.legend(fontsize=8)
    config = runs[dagger_run(scale, scale.seeds[0])]["config"]["mitigation"]
    setting = (
        f"Lane, Gaussian head, {scale.lane_steps} steps per fit, {scale.lane_eval} evaluation "
        f"roads, seeds {', '.join(map(str, scale.seeds))} (dots: seeds; bars: mean and its 95% "
        f"CI over seeds). Each seed s its own demos, from collection seeds {seed_text()} + i. "
        f"BC: {', '.join(p['label'] for p in points['BC'])} (one more held out). DAgger (the "
        "mitigation table's runs): 2 training demos (1 more held out), then "
        f"{scale.lane_rounds - 1} rounds of {config['episodes_per_round']} episodes of the "
        f"learner mixed with the expert (beta {config['beta']}, {config['schedule']} schedule), "
        "labelled by the expert, each followed by a fit "
        + ("continuing from the previous weights" if config["warm_start"] else "from scratch")
        + "; each round is measured at the end of its fit (round 0 is BC from the same 2 demos)."
    )
    summary_text = (
        f"Normalized return {GOOD} is first reached on average by BC at "
        f"{first_good(points['BC'])} and by DAgger at {first_good(points['DAgger'])}. "
        f"{matched(points['BC'], points['DAgger'])}. {method_note()}."
    )
    figure = save_figure(fig, out, "fig_dagger_vs_bc_labels", "DAgger vs BC by expert labels",
                         f"{setting} {summary_text}")  # fmt: skip
    rows = [
        [method, p["label"], fmt(p["labels"], 0), *stat_cells(p["return"]), fmt(p["success"])]
        for method, series in points.items()
        for p in series
    ]
    header = ["method", "data", "expert labels",
              *(f"normalized return {c}" for c in STAT_COLUMNS), "success"]  # fmt: skip
    table = write_table(out, "table_dagger_vs_bc_labels", "DAgger vs BC by expert labels",
                        f"{setting} {summary_text}", header, rows)  # fmt: skip
    return [figure, table]
