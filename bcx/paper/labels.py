"""Figure and table: DAgger against BC at equal numbers of expert labels (Ross et al. 2011).

BC gets more expert demos; DAgger starts from 2 training demos and each round adds the expert's
labels on the states its learner visits. Each DAgger round's fit is measured at its end
(``metrics.json``'s ``rounds``), so one DAgger run gives one point per round.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcx.paper.output import Artifact, plt, save_figure, write_table
from bcx.paper.runs import Scale, Spec, fmt, lane, mean_std, metric

NAME = "labels"
TITLE = "Figure and table: DAgger vs BC by expert labels"
GOOD = 0.95  # normalized return counted as reaching the expert
TIE = 0.02  # normalized returns closer than this count as equal


def dagger_run(scale: Scale, seed: int) -> Spec:
    """DAgger from one training demo (plus one held out), one learner episode per round."""
    return lane(
        scale, seed=seed, mitigation="dagger", episodes=2, rounds=scale.label_rounds, per_round=1
    )


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
    """The fewest labels at which the mean normalized return reaches GOOD."""
    for point in points:
        if mean_std(point["return"])[0] >= GOOD:
            return f"{mean_std(point['labels'])[0]:.0f} labels ({point['label']})"
    return f"not within {mean_std(points[-1]['labels'])[0]:.0f} labels"


def matched(bc: list[dict], rounds: list[dict]) -> str:
    """Each DAgger round after the first against the BC point nearest in labels, in words."""
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
            f"({mean_std(near['labels'])[0]:.0f}) {theirs:.2f}"
        )
    counts = ", ".join(f"{v} {k}" for k, v in outcome.items())
    return (
        f"At matched budgets (each DAgger round against the BC point nearest in labels; equal: "
        f"within {TIE}) DAgger is {counts} of {len(rounds) - 1}: {'; '.join(lines)}"
    )


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    points = curves(scale, runs)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for color, (method, series) in zip(("C0", "C3"), points.items(), strict=True):
        x = [mean_std(p["labels"])[0] for p in series]
        y, err = zip(*(mean_std(p["return"]) for p in series), strict=True)
        ax.errorbar(x, y, yerr=err, color=color, marker="o", capsize=3, label=method)
        for p in series:
            ax.scatter(p["labels"], p["return"], color=color, s=8, alpha=0.4)
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="expert")
    ax.set_xlabel("expert labels (state-action pairs, held-out episode included)")
    ax.set_ylabel("normalized return (random 0, expert 1)")
    ax.legend(fontsize=8)
    config = runs[dagger_run(scale, scale.seeds[0])]["config"]["mitigation"]
    setting = (
        f"Lane, Gaussian head, {scale.lane_steps} steps per fit, {scale.lane_eval} evaluation "
        f"roads, seeds {', '.join(map(str, scale.seeds))} (dots: seeds; bars: mean ± std). BC: "
        f"{', '.join(p['label'] for p in points['BC'])} from collection seeds 10+ (one more "
        f"held out). DAgger: 1 training demo (collection seed 10, 11 held out), then "
        f"{scale.label_rounds - 1} rounds of {config['episodes_per_round']} episode of the "
        f"learner mixed with the expert (beta {config['beta']}, {config['schedule']} schedule), "
        "labelled by the expert, each followed by a warm-started fit; each round is measured at "
        "the end of its fit (round 0 is BC from 1 demo)."
    )
    summary = (
        f"Normalized return {GOOD} is first reached by BC at {first_good(points['BC'])} and by "
        f"DAgger at {first_good(points['DAgger'])}. {matched(points['BC'], points['DAgger'])}."
    )
    figure = save_figure(fig, out, "fig_dagger_vs_bc_labels", "DAgger vs BC by expert labels",
                         f"{setting} {summary}")  # fmt: skip
    rows = [
        [method, p["label"], fmt(p["labels"], 0), fmt(p["return"]), fmt(p["success"])]
        for method, series in points.items()
        for p in series
    ]
    header = ["method", "data", "expert labels", "normalized return", "success"]
    table = write_table(out, "table_dagger_vs_bc_labels", "DAgger vs BC by expert labels",
                        f"{setting} {summary}", header, rows)  # fmt: skip
    return [figure, table]
