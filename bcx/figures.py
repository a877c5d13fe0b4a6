"""Figures saved with a run (matplotlib, headless).

``compounding_error``: state distance to the expert and on-policy NLL over the episode.

``action_samples``: the lecture's Figure 6. At one probe state, samples from the policy's head
are drawn over the actions the expert took at the nearest demonstration states; a unimodal
Gaussian shows up as one blob between two expert clusters.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bcx.data.demos import Demonstrations  # noqa: E402
from bcx.io import atomic_write  # noqa: E402
from bcx.policy import Policy  # noqa: E402


def nearest_expert_actions(demos: Demonstrations, probe: np.ndarray, count: int) -> np.ndarray:
    """The expert's actions (count, act_dim) at the ``count`` demo states nearest to probe
    (distance in units of each feature's std)."""
    scale = demos.obs.std(axis=0) + 1e-6
    distance = np.linalg.norm((demos.obs - probe) / scale, axis=1)
    return demos.actions[np.argsort(distance)[:count]]


@torch.no_grad()
def action_samples(
    policy: Policy, demos: Demonstrations, path: str | Path, *, title: str, samples: int = 1000
) -> Path:
    """Save the figure for the first state of ``demos``; returns its path."""
    probe = demos.obs[0]
    expert = nearest_expert_actions(demos, probe, count=min(200, len(demos)))
    obs = torch.as_tensor(np.repeat(probe[None], samples, axis=0), device=policy.obs_mean.device)
    drawn = policy.act(obs, deterministic=False).cpu().numpy()
    mode = policy.act(obs[:1], deterministic=True).cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 4))
    if drawn.shape[1] == 1:
        bins = np.linspace(min(expert.min(), drawn.min()), max(expert.max(), drawn.max()), 40)
        ax.hist(expert[:, 0], bins=bins, density=True, alpha=0.5, label="expert (nearby states)")
        ax.hist(drawn[:, 0], bins=bins, density=True, alpha=0.5, label="policy samples")
        ax.axvline(mode[0, 0], color="k", linestyle="--", label="policy mode")
        ax.set_xlabel("action")
    else:
        ax.scatter(drawn[:, 0], drawn[:, 1], s=4, alpha=0.3, label="policy samples")
        ax.scatter(expert[:, 0], expert[:, 1], s=12, marker="x", label="expert (nearby states)")
        ax.scatter(mode[:, 0], mode[:, 1], s=80, marker="*", color="k", label="policy mode")
        ax.set_xlabel("action[0]")
        ax.set_ylabel("action[1]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def compounding_error(curve: dict[str, list[float]], path: str | Path, *, title: str) -> Path:
    """Save the compounding-error curve (``ShiftCallback.curve``): state distance to the
    expert and on-policy NLL against the timestep; returns the path."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 5), sharex=True)
    top.plot(curve["timestep"], curve["state_distance"], marker="o")
    top.set_ylabel("state distance to expert\n(RMS, held-out stds)")
    bottom.plot(curve["timestep"], curve["on_policy_nll"], marker="o", color="tab:red")
    bottom.set_ylabel("on-policy NLL")
    bottom.set_xlabel("timestep")
    top.set_title(title)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path


def training_curves(
    groups: dict[str, list[dict[str, list[tuple[float, float]]]]], path: str | Path
) -> Path | None:
    """The lecture's Figure 2 per group: dataset vs on-policy NLL over training steps, averaged
    over the group's runs at each logged step (symlog scale: on-policy NLLs have heavy tails).
    groups: label -> each run's logged series; None when no run logged shift metrics."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for index, (label, logs) in enumerate(groups.items()):
        color = f"C{index % 10}"
        for metric, style in (("shift/dataset_nll", "--"), ("shift/on_policy_nll", "-")):
            steps, means = _mean_by_step([log.get(metric, []) for log in logs])
            if steps:
                short = metric.split("/")[1].removesuffix("_nll")
                ax.plot(steps, means, style, color=color, marker="o", label=f"{label} ({short})")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("symlog")
    ax.set_xlabel("training step")
    ax.set_ylabel("NLL of the expert's actions")
    ax.set_title("dataset (dashed) vs on-policy (solid) NLL")
    _legend_outside(fig, ax)
    return _save(fig, path)


def _legend_outside(fig, ax) -> None:
    """Many groups: the legend goes right of the axes, the figure widens to hold it."""
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.set_size_inches(11, 4.5)


def _mean_by_step(series: list[list[tuple[float, float]]]) -> tuple[list[float], list[float]]:
    by_step: dict[float, list[float]] = {}
    for points in series:
        for step, value in points:
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    return steps, [float(np.mean(by_step[s])) for s in steps]


def returns_by_group(groups: dict[str, list[float]], path: str | Path) -> Path | None:
    """Mean +- std normalized return per group (bars); None when no run has one."""
    values = {k: np.array(v, dtype=float) for k, v in groups.items()}
    values = {k: v[~np.isnan(v)] for k, v in values.items()}
    values = {k: v for k, v in values.items() if len(v)}
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(values)), 4))
    ax.bar(
        range(len(values)),
        [v.mean() for v in values.values()],
        yerr=[v.std() for v in values.values()],
        capsize=4,
    )
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("normalized return (random 0, expert 1)")
    return _save(fig, path)


def compounding_curves(groups: dict[str, list[dict[str, list[float]]]], path: str | Path):
    """Mean state distance to the expert over the episode, one line per group; None when no
    run recorded the curve."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for label, curves in groups.items():
        curves = [c for c in curves if c.get("state_distance")]
        if curves:
            distance = np.nanmean([c["state_distance"] for c in curves], axis=0)
            ax.plot(curves[0]["timestep"], distance, marker="o", label=label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("symlog")
    ax.set_xlabel("timestep")
    ax.set_ylabel("state distance to expert (held-out stds)")
    _legend_outside(fig, ax)
    return _save(fig, path)
