"""Figure 2: on the states it visits itself, BC's loss exceeds its loss on the expert's states.

Plain BC (Gaussian head) on lane from two training demos: ``shift/dataset_nll`` (held-out expert
episode) and ``shift/on_policy_nll`` (the policy's own states, labelled by the expert) as logged
over training by the rollout callback, one line per seed.
"""

from __future__ import annotations

from pathlib import Path

from bcx.paper.output import Artifact, plt, save_figure
from bcx.paper.runs import Scale, Spec, lane, metric
from bcx.report import read_log

NAME = "shift_curve"
TITLE = "Figure 2: on-policy loss exceeds dataset loss"


def specs(scale: Scale) -> list[Spec]:
    return [lane(scale, seed=seed) for seed in scale.seeds]


def render(out: Path, scale: Scale, runs: dict[Spec, dict], **_) -> list[Artifact]:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    finals, above, points = [], 0, 0
    for index, spec in enumerate(specs(scale)):
        log = read_log(Path(runs[spec]["dir"]))
        dataset = dict(log.get("shift/dataset_nll", []))
        on_policy = dict(log.get("shift/on_policy_nll", []))
        steps = sorted(set(dataset) & set(on_policy))
        if not steps:
            raise RuntimeError(f"{runs[spec]['dir']} logged no shift/*_nll (logger=csv?)")
        color = f"C{index}"
        seed = spec.name.rsplit("-s", 1)[1]
        ax.plot(steps, [dataset[s] for s in steps], "--", color=color, marker=".",
                label=f"seed {seed}: dataset")  # fmt: skip
        ax.plot(steps, [on_policy[s] for s in steps], "-", color=color, marker="o",
                label=f"seed {seed}: on-policy")  # fmt: skip
        above += sum(on_policy[s] > dataset[s] for s in steps)
        points += len(steps)
        result = runs[spec]
        finals.append(
            (
                seed,
                metric(result, "shift/dataset_nll"),
                metric(result, "shift/on_policy_nll"),
                metric(result, "rollout/success"),
            )
        )
    ax.set_yscale("symlog")
    ax.set_xlabel("training step")
    ax.set_ylabel("NLL of the expert's actions (symlog)")
    ax.legend(fontsize=7, ncol=2)
    higher = sum(on > data for _, data, on, _ in finals)
    per_seed = "; ".join(
        f"seed {seed}: {data:.3g} vs {on:.3g}, {success:.0%} of episodes on the road"
        for seed, data, on, success in finals
    )
    verdict = (
        "supported: at the end of training the on-policy NLL is the higher one in every seed"
        if higher == len(finals)
        else f"NOT supported in {len(finals) - higher} of {len(finals)} seeds"
    )
    caption = (
        f"Plain BC with a Gaussian head on lane from 2 training demos (collection seeds 10-11, "
        f"seed 12 held out), {scale.lane_steps} steps, measured every {scale.lane_every} steps "
        f"on {scale.lane_eval} evaluation roads. Dashed: NLL on the held-out expert episode "
        "(shift/dataset_nll); solid: NLL of the expert's labels on the states the policy "
        "visited itself (shift/on_policy_nll). The on-policy NLL is above the dataset NLL at "
        f"{above} of {points} measurements. Final dataset vs on-policy NLL: {per_seed}. "
        f"Verdict: {verdict}."
    )
    return [save_figure(fig, out, "fig2_shift_over_training", "Figure 2", caption)]
