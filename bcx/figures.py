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
