"""Figure 2: on the states it visits itself, BC's loss exceeds its loss on its training states.

Plain BC (Gaussian head) on lane from two training demos, every seed its own demos: the per-state
median NLL of the expert's actions on the policy's training states (``shift/train_nll_median``),
on a held-out expert episode (``shift/dataset_nll_median``) and on the states the policy visits
itself, labelled by the expert (``shift/on_policy_nll_median``), as logged over training by the
rollout callback: the mean over seeds with its 95% bootstrap band, and each seed thinly. Medians,
not means: a few far-off on-policy states dominate a mean NLL. The table gives the final readings
and the three gaps over seeds.
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
    lane,
    method_note,
    metric,
    seed_text,
    summary,
)
from bcx.results.report import read_log

NAME = "shift_curve"
TITLE = "Figure 2: on-policy loss exceeds training loss"
CURVES = (  # (logged key, line style, colour, label)
    ("shift/train_nll_median", ":", "C2", "train"),
    ("shift/dataset_nll_median", "--", "C0", "dataset (held-out expert episode)"),
    ("shift/on_policy_nll_median", "-", "C3", "on-policy (its own states)"),
)
READINGS = (  # the table's rows: (key, what it is)
    ("shift/train_nll_median", "train NLL"),
    ("shift/dataset_nll_median", "dataset NLL"),
    ("shift/on_policy_nll_median", "on-policy NLL"),
    ("shift/generalization_gap_median", "dataset - train"),
    ("shift/heldout_gap_median", "on-policy - dataset"),
    ("shift/gap_median", "on-policy - train"),
)


def specs(scale: Scale) -> list[Spec]:
    return [lane(scale, seed=seed) for seed in scale.seeds]


def logged(result: dict) -> dict[str, dict[float, float]]:
    """{key: {step: value}} of the CURVES keys from a run's CSV log."""
    log = read_log(Path(result["dir"]))
    series = {key: dict(log.get(key, [])) for key, *_ in CURVES}
    if not all(series.values()):
        missing = [key for key, values in series.items() if not values]
        raise RuntimeError(f"{result['dir']} logged no {', '.join(missing)} (logger=csv?)")
    return series


def sig(values: list[float]) -> str:
    """ "mean [95% CI]" over seeds to 3 significant digits (NLLs span orders of magnitude)."""
    return stats.brief(summary(values))


def significant(s: stats.Summary) -> list[str]:
    """Mean, IQM and 95% CI to 4 significant digits (NLLs span orders of magnitude)."""
    return [stats.number(s.mean, 4), stats.number(s.iqm, 4), stats.interval(s, 4)]


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    results = [runs[spec] for spec in specs(scale)]
    logs = [logged(r) for r in results]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, style, color, label in CURVES:
        steps = sorted(set.intersection(*(set(log[key]) for log in logs)))
        for log in logs:
            ax.plot(steps, [log[key][s] for s in steps], style, color=color, lw=0.6, alpha=0.3)
        values = [[log[key][s] for log in logs] for s in steps]
        ax.plot(steps, [np.mean(v) for v in values], style, color=color, marker="o", ms=3,
                label=f"{label}: mean over seeds")  # fmt: skip
        bands = [stats.bootstrap_ci(v) for v in values]
        if not np.isnan(bands[0][0]):
            ax.fill_between(steps, *zip(*bands, strict=True), color=color, alpha=0.15, lw=0)
    ax.set_yscale("symlog")
    ax.set_xlabel("training step")
    ax.set_ylabel("median per-state NLL of the expert's actions")
    ax.legend(fontsize=7)

    final = {key: [metric(r, key) for r in results] for key, _ in READINGS}
    on, data = "shift/on_policy_nll_median", "shift/dataset_nll_median"
    above = [log[on][s] > log[data][s] for log in logs for s in set(log[on]) & set(log[data])]
    # The claim is the lecture's gap, on-policy minus training states; the held-out comparison
    # is one of its two parts (the other: held-out minus training, the generalization gap).
    k, n = stats.count_holds([gap > 0 for gap in final["shift/gap_median"]])
    k_heldout, _ = stats.count_holds([gap > 0 for gap in final["shift/heldout_gap_median"]])
    gap = summary(final["shift/gap_median"])
    if n > 1 and not np.isnan(gap.low):
        supported = gap.low > 0
        verdict = (
            f"{'supported' if supported else 'NOT supported'}: the final on-policy median NLL is "
            f"above the training one {stats.holds_on(k, n)}, mean difference {gap.mean:.3g} "
            f"nats, 95% CI {stats.interval(gap)} ({'above' if supported else 'not above'} 0)"
        )
    else:
        verdict = (
            f"{'holds' if k == n else 'does NOT hold'} {stats.holds_on(k, n)} (one seed: no "
            "interval, no claim beyond it)"
        )
    seeds = ", ".join(map(str, scale.seeds))
    setting = (
        f"Plain BC with a Gaussian head on lane from 2 training demos (training seed s: "
        f"collection seeds {seed_text()} and +1, +2 held out), seeds {seeds}, "
        f"{scale.lane_steps} steps, measured every {scale.lane_every} steps on "
        f"{scale.lane_eval} evaluation roads."
    )
    caption = (
        f"{setting} Per-state median NLL of the expert's actions on the policy's training states "
        "(dotted, shift/train_nll_median), on the held-out expert episode (dashed, "
        "shift/dataset_nll_median) and on the states the policy visited itself (solid, "
        "shift/on_policy_nll_median); thick: mean over seeds with its 95% bootstrap band, thin: "
        f"each seed. The on-policy median is above the dataset one at {sum(above)} of "
        f"{len(above)} measurements. Final readings, mean [95% CI] over seeds: train "
        f"{sig(final['shift/train_nll_median'])}, dataset "
        f"{sig(final['shift/dataset_nll_median'])}, on-policy "
        f"{sig(final['shift/on_policy_nll_median'])}; on-policy above the held-out expert "
        f"episode {stats.holds_on(k_heldout, n)} (shift/heldout_gap_median "
        f"{sig(final['shift/heldout_gap_median'])}). Verdict: {verdict}. {method_note()}."
    )
    figure = save_figure(fig, out, "fig2_shift_over_training", "Figure 2", caption)
    rows = [
        [
            f"{what} (`{key}`)",
            *significant(summary(final[key])),
            "" if "gap" not in key else str(stats.count_holds([v > 0 for v in final[key]])[0]),
            str(summary(final[key]).n),
        ]
        for key, what in READINGS
    ]
    header = ["reading at the end of training", *STAT_COLUMNS, "seeds > 0", "seeds"]
    table = write_table(
        out,
        "table_shift",
        "Figure 2's readings at the end of training",
        f"{setting} Per-state median NLLs (nats) and their differences, over seeds. The claim: "
        f"on-policy - train > 0 (shift/gap_median), which holds {stats.holds_on(k, n)}. "
        f"Verdict: {verdict}. "
        f"{method_note()}.",
        header,
        rows,
    )
    return [figure, table]
