"""Table: plain BC and the three fixes of distribution shift on narrow lane data (2 training
demos): augmentation with corrective labels, DART's noisy demonstrations, DAgger's rounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcx.paper.output import Artifact, write_table
from bcx.paper.runs import Scale, Spec, fmt, lane, mean_std, metric

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


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    rows, means = [], {}
    for name in MITIGATIONS:
        results = [runs[lane(scale, seed=s, mitigation=name)] for s in scale.seeds]
        values = {
            "return": [metric(r, "rollout/normalized_return") for r in results],
            "success": [metric(r, "rollout/success") for r in results],
            "gap": [metric(r, "shift/gap") for r in results],
            "labels": [metric(r, "expert/labels") for r in results],
            "late": [late_state_distance(r) for r in results],
            "train": [r["run"]["train_time_s"] for r in results],
        }
        means[name] = {k: mean_std(v)[0] for k, v in values.items()}
        rows.append(
            [
                f"`{name}`",
                fmt(values["return"]),
                fmt(values["success"]),
                fmt(values["gap"], 1),
                fmt(values["labels"], 0),
                fmt(values["late"], 1),
                fmt(values["train"], 0),
            ]
        )
    bc = means["none"]
    effects = []
    for name in MITIGATIONS[1:]:
        m = means[name]
        raised = "raises" if m["return"] > bc["return"] + 0.05 else "does NOT raise"
        effects.append(
            f"`{name}` {raised} it to {m['return']:.2f} (success {m['success']:.0%}, late "
            f"distance {m['late']:.1f}, gap {m['gap']:.3g})"
        )
    dagger = runs[lane(scale, seed=scale.seeds[0], mitigation="dagger")]["config"]["mitigation"]
    fixed = sum(means[n]["return"] > bc["return"] + 0.05 for n in MITIGATIONS[1:])
    costlier = ", ".join(f"`{n}`" for n in MITIGATIONS[1:] if means[n]["labels"] > bc["labels"])
    costlier = costlier or "none of them"
    caption = (
        f"Lane, 2 training demos (collection seeds 10-11, 12 held out), Gaussian head, "
        f"{scale.lane_steps} steps per fit (DAgger: {scale.lane_rounds} fits, "
        f"{dagger['episodes_per_round']} learner episodes per later round), "
        f"{scale.lane_eval} evaluation roads, mean ± std over seeds "
        f"{', '.join(map(str, scale.seeds))}. Normalized return: random 0, expert 1; late "
        "distance: the learner's state distance to the expert's trajectory from the same road, "
        "averaged over the second half of the episode (held-out feature stds). Plain BC reaches "
        f"{bc['return']:.2f} (success {bc['success']:.0%}, late distance {bc['late']:.1f}, gap "
        f"{bc['gap']:.3g} nats); {'; '.join(effects)}. {fixed} of 3 mitigations raise the "
        f"normalized return by more than 0.05; {costlier} spend more expert labels than plain BC "
        "(expert/labels column)."
    )
    header = ["mitigation", "normalized return", "success", "shift/gap", "expert labels",
              "late state distance", "train s"]  # fmt: skip
    return [write_table(out, "table_mitigations", "Mitigations on narrow lane data", caption,
                        header, rows)]  # fmt: skip
