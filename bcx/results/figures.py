"""Figures saved with a run (matplotlib, headless).

``compounding_error``: state distance to the expert and on-policy NLL over the episode.

``training_curves``, ``returns_by_group``, ``compounding_curves``: the figures of bcx-report.

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

from bcx import stats  # noqa: E402
from bcx.data.demos import Demonstrations  # noqa: E402
from bcx.io import atomic_write  # noqa: E402
from bcx.model.policy import Policy  # noqa: E402


def nearest_expert_actions(demos: Demonstrations, probe: np.ndarray, count: int) -> np.ndarray:
    """The expert's actions (count, act_dim) at the ``count`` demo states nearest to probe
    (distance in units of each feature's std, over the features of probe (F,): pass a learner's
    view to keep privileged features out of "nearest")."""
    seen = demos.obs[:, : len(probe)]
    scale = seen.std(axis=0) + 1e-6
    distance = np.linalg.norm((seen - probe) / scale, axis=1)
    return demos.actions[np.argsort(distance)[:count]]


@torch.no_grad()
def action_samples(
    policy: Policy, demos: Demonstrations, path: str | Path, *, title: str, samples: int = 1000
) -> Path:
    """Save the figure for the first state of ``demos``; returns its path."""
    probe = demos.obs[0]
    seen = probe[: len(policy.obs_mean)]  # what the learner sees of it
    expert = nearest_expert_actions(demos, seen, count=min(200, len(demos)))
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
    expert and the median on-policy NLL against the timestep, over the median NLL on the
    training states; returns the path."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 5), sharex=True)
    top.plot(curve["timestep"], curve["state_distance"], marker="o")
    top.set_ylabel("state distance to expert\n(RMS, held-out stds)")
    bottom.plot(curve["timestep"], curve["on_policy_nll_median"], marker="o", color="tab:red",
                label="on-policy states")  # fmt: skip
    bottom.axhline(curve["train_nll_median"], color="k", linestyle=":", label="training states")
    bottom.set_ylabel("median per-state NLL")
    bottom.legend(fontsize=7)
    bottom.set_xlabel("timestep")
    top.set_title(title)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path


# The shift curves a report draws: per-state medians of the policy's NLL of the expert's actions
# on its training states, on held-out expert episodes and on the states it visits itself.
NLL_CURVES = (
    ("shift/train_nll_median", ":", "train"),
    ("shift/dataset_nll_median", "--", "dataset"),
    ("shift/on_policy_nll_median", "-", "on-policy"),
)


def training_curves(
    groups: dict[str, list[dict[str, list[tuple[float, float]]]]], path: str | Path
) -> Path | None:
    """The lecture's Figure 2 per group: train, dataset and on-policy NLL (per-state medians)
    over training steps, the mean over the group's runs at each logged step with its 95%
    bootstrap interval as a band (symlog scale: on-policy NLLs have heavy tails).
    groups: label -> each run's logged series; None when no run logged the median NLLs."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for index, (label, logs) in enumerate(groups.items()):
        color = f"C{index % 10}"
        for metric, style, short in NLL_CURVES:
            steps, values = _by_step([log.get(metric, []) for log in logs])
            if not steps:
                continue
            means = [float(np.mean(v)) for v in values]
            ax.plot(steps, means, style, color=color, marker="o", ms=3, label=f"{label} ({short})")
            bands = [stats.bootstrap_ci(v) for v in values]
            if any(not np.isnan(low) for low, _ in bands):
                low, high = zip(*bands, strict=True)
                ax.fill_between(steps, low, high, color=color, alpha=0.15, lw=0)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("symlog")
    ax.set_xlabel("training step")
    ax.set_ylabel("median per-state NLL of the expert's actions")
    ax.set_title("train (dotted), dataset (dashed), on-policy (solid); bands: 95% CI over runs")
    _legend_outside(fig, ax)
    return _save(fig, path)


def _legend_outside(fig, ax) -> None:
    """Many groups: the legend goes right of the axes, the figure widens to hold it."""
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.set_size_inches(11, 4.5)


def _by_step(series: list[list[tuple[float, float]]]) -> tuple[list[float], list[list[float]]]:
    """(steps, the runs' values at each step) over every run's (step, value) series."""
    by_step: dict[float, list[float]] = {}
    for points in series:
        for step, value in points:
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def returns_by_group(groups: dict[str, stats.Summary], path: str | Path) -> Path | None:
    """Normalized return per group: mean (bar) with its 95% bootstrap interval, and the IQM
    (diamond); None when no run has one."""
    values = {k: v for k, v in groups.items() if v.n}
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(values)), 4))
    x = np.arange(len(values))
    means = np.array([v.mean for v in values.values()])
    low = np.array([v.low for v in values.values()])
    high = np.array([v.high for v in values.values()])
    error = np.clip(np.nan_to_num(np.stack([means - low, high - means])), 0, None)  # n=1: none
    ax.bar(x, means, yerr=error, capsize=4, label="mean, 95% CI")
    ax.scatter(x, [v.iqm for v in values.values()], marker="D", color="k", zorder=3, label="IQM")
    ax.set_xticks(x, [f"{k} (n={v.n})" for k, v in values.items()], rotation=30, ha="right",
                  fontsize=7)  # fmt: skip
    ax.set_ylabel("normalized return (random 0, expert 1)")
    ax.legend(fontsize=7)
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
