"""Figure 6: at fork's start state a unimodal Gaussian puts its action between the expert's two
modes (left and right of the obstacle); expressive heads put theirs on one of them.

Each trained policy is reloaded from its run's final checkpoint and sampled at the first state of
the first held-out demo, over the expert's actions at the nearest demo states; the caption
counts the samples and modes that fall between the two clusters.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from bcx import stats
from bcx.api import policy_from_state
from bcx.data.demos import Demonstrations, collect
from bcx.model.policy import Policy
from bcx.paper import heads
from bcx.paper.output import Artifact, plt, save_figure
from bcx.paper.runs import Runner, Scale, Spec, fmt, fork, method_note
from bcx.results.figures import nearest_expert_actions

NAME = "modes"
TITLE = "Figure 6: a Gaussian averages the expert's modes; expressive heads do not"
SAMPLES = 1000
NEAREST = 200  # expert actions at this many demo states nearest to the probe


def specs(scale: Scale) -> list[Spec]:
    return heads.specs(scale)


def demonstrations(cfg: DictConfig) -> Demonstrations:
    """The run's expert demos, recollected (the expert is deterministic; seeds data.seed + i)."""
    import bcx.envs  # noqa: F401  (registers bcx/Fork-v0)

    envs = [gym.make(cfg.env.id, **cfg.env.kwargs) for _ in range(8)]
    expert = instantiate(cfg.expert)(env=envs[0])
    return collect(expert, envs, [cfg.data.seed + i for i in range(cfg.data.episodes)])


def load_policy(cfg: DictConfig, result: dict) -> Policy:
    """The run's final policy from ``checkpoints/last.ckpt`` (checked to be the last step)."""
    checkpoint = torch.load(
        Path(result["dir"]) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )
    if checkpoint["global_step"] != result["run"]["steps"]:
        raise RuntimeError(
            f"{result['dir']}: last.ckpt is from step {checkpoint['global_step']}, the run "
            f"ended at step {result['run']['steps']}"
        )
    state = {
        k.removeprefix("policy."): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("policy.")
    }
    path = Path(result["dir"]) / "checkpoints" / "last.ckpt"
    return policy_from_state(cfg, state, path).eval()


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``centres`` (K, A) for each of ``points`` (N, A): (N,)."""
    return np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)


def render(out: Path, scale: Scale, runs: dict[Spec, dict], runner: Runner) -> list[Artifact]:
    cfg = runner.config(fork(scale, seed=scale.seeds[0]))
    demos = demonstrations(cfg)
    probe = demos.split(cfg.data.val_episodes)[1].obs[0]
    expert = nearest_expert_actions(demos, probe, count=min(NEAREST, len(demos)))
    left, right = expert[expert[:, 0] < 0], expert[expert[:, 0] >= 0]
    if not len(left) or not len(right):
        raise RuntimeError("the expert's actions near the start state are not bimodal")
    # Columns: left mode, between (the midpoint of the two), right mode.
    centres = np.stack([left.mean(0), (left.mean(0) + right.mean(0)) / 2, right.mean(0)])
    obs = torch.as_tensor(np.repeat(probe[None], SAMPLES, axis=0))
    between, averaging = {}, {}
    columns = 3
    rows = -(-len(scale.heads) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(scale.heads) :]:
        ax.axis("off")
    for head, ax in zip(scale.heads, axes.flat, strict=False):
        shares, modes = [], []
        for index, seed in enumerate(scale.seeds):
            spec = fork(scale, seed=seed, policy=head)
            policy = load_policy(runner.config(spec), runs[spec])
            torch.manual_seed(seed)
            drawn = policy.act(obs, deterministic=False).numpy()
            mode = policy.act(obs[:1], deterministic=True).numpy()
            shares.append(float(np.mean(nearest_centre(drawn, centres) == 1)))
            modes.append(int(nearest_centre(mode, centres)[0]) == 1)
            if index == 0:
                ax.scatter(drawn[:, 0], drawn[:, 1], s=3, alpha=0.2, label="head samples")
                ax.scatter(expert[:, 0], expert[:, 1], s=14, marker="x", color="C1",
                           label="expert, nearby states")  # fmt: skip
                ax.scatter(*mode[0], s=120, marker="*", color="k", label="head mode")
                ax.scatter(*centres[1], s=40, marker="D", facecolor="none", color="C3",
                           label="between the modes")  # fmt: skip
        between[head], averaging[head] = shares, sum(modes)
        ax.set_title(f"{head}: {np.mean(shares):.0%} between", fontsize=9)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("action x", fontsize=8)
        ax.set_ylabel("action y", fontsize=8)
    axes.flat[0].legend(fontsize=6, loc="lower left")
    seeds = len(scale.seeds)
    unimodal = [h for h in scale.heads if h in heads.UNIMODAL]
    expressive = [h for h in scale.heads if h not in heads.UNIMODAL]
    # The claim per head and seed: a unimodal head's mode lies between the modes, an expressive
    # head's does not.
    holds = {h: averaging[h] if h in unimodal else seeds - averaging[h] for h in scale.heads}
    exceptions = [f"`{h}` (holds {stats.holds_on(holds[h], seeds)})" for h in scale.heads
                  if holds[h] < seeds]  # fmt: skip
    verdict = (
        "supported: every unimodal head's mode lies between the modes and no expressive "
        f"head's does, {stats.holds_on(seeds, seeds)}"
        if not exceptions
        else f"not supported on every seed for {', '.join(exceptions)}"
    )
    listing = ", ".join(
        f"`{h}` {fmt(between[h])} (mode between the modes {stats.holds_on(averaging[h], seeds)})"
        for h in scale.heads
    )
    caption = (
        f"Fork, the runs of the heads table ({scale.fork_steps} steps, each seed its own demos). "
        f"At the first state of the first held-out demo of seed {scale.seeds[0]}, "
        f"{SAMPLES} samples of each head's policy of every seed (those of seed "
        f"{scale.seeds[0]} drawn) over the expert's actions at the {len(expert)} nearest demo "
        f"states, which form two clusters: left ({len(left)} actions, mean "
        f"{np.round(centres[0], 2)}) and right ({len(right)}, mean {np.round(centres[2], 2)}). "
        "A sample is 'between the modes' when it is nearer the midpoint of the two means than to "
        "either; the star is the head's deterministic action (its mode, which the rollouts "
        f"execute). Share of samples between the modes, mean [95% CI] over seeds: {listing}. "
        f"Unimodal: {', '.join(unimodal) or 'none'}; expressive: {', '.join(expressive)}. "
        f"Verdict: {verdict}. {method_note()}."
    )
    return [save_figure(fig, out, "fig6_action_samples", "Figure 6", caption)]
