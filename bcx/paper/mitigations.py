"""Table: plain BC and the three fixes of distribution shift on narrow lane data (2 training
demos): augmentation with corrective labels, DART's noisy demonstrations, DAgger's rounds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bcx import stats
from bcx.paper.output import Artifact, write_table
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
    paired,
    seed_text,
    stat_cells,
    summary,
)

NAME = "mitigations"
TITLE = "Table: the mitigations of distribution shift on narrow data"
MITIGATIONS = ("none", "augment", "dart", "dagger")


def specs(scale: Scale) -> list[Spec]:
    return [lane(scale, seed=s, mitigation=m) for m in MITIGATIONS for s in scale.seeds]


def late_state_distance(result: dict) -> float:
    """Mean state distance to the expert over the second half of the episode (the compounding
    error), NaN without the curve."""
    curve = result.get("curves", {}).get("compounding_error", {}).get("state_distance", [])
    return float(np.mean(curve[len(curve) // 2 :])) if curve else float("nan")


def raises(ours: list[float], bc: list[float]) -> bool:
    """The fix raises the normalized return: by more than 0.05 on average over seeds, with the
    95% CI of the seed-by-seed difference above 0 (where there is an interval)."""
    _, _, difference = paired(ours, bc)
    no_interval = math.isnan(difference.low)
    return difference.mean > 0.05 and (no_interval or difference.low > 0)


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    rows, means, values = [], {}, {}
    for name in MITIGATIONS:
        results = [runs[lane(scale, seed=s, mitigation=name)] for s in scale.seeds]
        values[name] = {
            "return": [metric(r, "rollout/normalized_return") for r in results],
            "success": [metric(r, "rollout/success") for r in results],
            "gap": [metric(r, "shift/gap_median") for r in results],
            "labels": [metric(r, "expert/labels") for r in results],
            "late": [late_state_distance(r) for r in results],
            "train": [r["run"]["train_time_s"] for r in results],
        }
        means[name] = {k: mean_std(v)[0] for k, v in values[name].items()}
    bc = values["none"]
    for name in MITIGATIONS:
        v = values[name]
        k, n, _ = paired(v["return"], bc["return"])
        rows.append(
            [
                f"`{name}`",
                *stat_cells(v["return"]),
                "-" if name == "none" else f"{k}/{n}",
                fmt(v["success"]),
                stats.brief(summary(v["gap"])),  # NLLs span orders of magnitude
                fmt(v["labels"], 0),
                fmt(v["late"], 1),
                fmt(v["train"], 0),
            ]
        )
    effects = []
    for name in MITIGATIONS[1:]:
        m = means[name]
        verb = (
            "raises" if raises(values[name]["return"], bc["return"]) else "does NOT clearly raise"
        )
        effects.append(
            f"`{name}` {verb} it to {fmt(values[name]['return'])}: "
            + above_text(values[name]["return"], bc["return"], "above plain BC's")
            + f" (success {m['success']:.0%}, late distance {m['late']:.1f}, gap "
            f"{m['gap']:.3g})"
        )
    dagger = runs[lane(scale, seed=scale.seeds[0], mitigation="dagger")]["config"]["mitigation"]
    fixed = sum(raises(values[n]["return"], bc["return"]) for n in MITIGATIONS[1:])
    costlier = ", ".join(
        f"`{n}`" for n in MITIGATIONS[1:] if means[n]["labels"] > means["none"]["labels"]
    )
    costlier = costlier or "none of them"
    b = means["none"]
    caption = (
        f"Lane, 2 training demos (training seed s: collection seeds {seed_text()} and +1, +2 "
        f"held out), Gaussian head, {scale.lane_steps} steps per fit (DAgger: "
        f"{scale.lane_rounds} fits, {dagger['episodes_per_round']} learner episodes per later "
        f"round), {scale.lane_eval} evaluation roads, seeds {', '.join(map(str, scale.seeds))}; "
        "the normalized return's mean, IQM and 95% CI over seeds, the others' mean [95% CI]. "
        "Normalized return: random 0, expert 1; above plain BC: seeds on which the fix's "
        "normalized return is above plain BC's (same seed, same demos); shift/gap_median: "
        "median per-state NLL on the policy's own states minus on its training states; late "
        "distance: the learner's state distance to the expert's trajectory from the same road, "
        "averaged over the second half of the episode (held-out feature stds). Plain BC reaches "
        f"{fmt(bc['return'])} (success {b['success']:.0%}, late distance {b['late']:.1f}, gap "
        f"{b['gap']:.3g} nats); {'; '.join(effects)}. {fixed} of 3 mitigations raise the "
        "normalized return (by more than 0.05 on average, with the 95% CI of the seed-by-seed "
        f"difference above 0); {costlier} spend more expert labels than plain BC (expert/labels "
        f"column). {method_note()}."
    )
    header = ["mitigation", *(f"normalized return {c}" for c in STAT_COLUMNS), "above plain BC",
              "success", "shift/gap_median", "expert labels", "late state distance",
              "train s"]  # fmt: skip
    return [write_table(out, "table_mitigations", "Mitigations on narrow lane data", caption,
                        header, rows)]  # fmt: skip
