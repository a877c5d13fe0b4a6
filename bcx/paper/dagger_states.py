"""Figure 5: the states each DAgger round adds (Ross et al. 2011).

For each seed, DAgger (``bcx.mitigations.dagger.Dagger`` at its defaults, with bcx's
``Collector``: the learner drives, mixed with the expert at beta_i, and the expert labels every
visited state) starts from 2 expert episodes on lane; between rounds bcx's Gaussian policy is
refit on the aggregate. The figure draws the first seed's states by round in the lane's (offset,
heading error) plane; the caption reports, over seeds, how far each round's new states reach
from the centre line against the demonstrations'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bcx import stats
from bcx.api import compose
from bcx.builders import build_expert, build_head, build_policy, make_envs
from bcx.data.collector import Collector
from bcx.mitigations.dagger import Dagger
from bcx.paper.output import Artifact, plt, save_figure
from bcx.paper.runs import Scale, fmt
from bcx.tools.bench import fit

NAME = "dagger_states"
TITLE = "Figure 5: the states each DAgger round adds"
DEMOS = 2  # training demonstrations, as in the lane studies
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def specs(scale: Scale) -> list:
    return []  # the rounds run here, on bcx's collector and mitigation


def rounds(seed: int, steps: int) -> list[np.ndarray]:
    """One seed's DAgger: the states (N_i, 2) of (offset, heading error) each round added, the
    demonstrations first; the policy is refit for ``steps`` Adam steps before each round."""
    cfg = compose(["env=lane", "mitigation=dagger"])
    envs = make_envs(cfg.env, cfg.mitigation.episodes_per_round)
    expert = build_expert(cfg, envs[0])
    dagger = Dagger(env=envs[0], **{k: v for k, v in cfg.mitigation.items() if k[0] != "_"})
    collector = Collector(expert, envs, first_seed=100 * seed, progress=False)
    train = collector.expert_episodes(DEMOS)
    added = [train.obs[:, :2]]
    torch.manual_seed(seed)
    for index in range(1, dagger.rounds):
        policy = build_policy(cfg, envs[0], train, build_head(cfg, envs[0]))
        fit(policy, train, steps, cfg.data.batch_size, cfg.optim.lr)
        grown = dagger.next_round(index, train, train, policy.eval().numpy_fn(), collector)
        added.append(grown.obs[len(train) :, :2])
        train = grown
    return added


def render(out: Path, scale: Scale, runs: dict, **_) -> list[Artifact]:
    steps = scale.lane_steps  # as long as every lane fit of the build
    seeds = [rounds(seed, steps) for seed in scale.seeds]
    fig, ax = plt.subplots(figsize=(6, 4))
    for index, states in reversed(list(enumerate(seeds[0]))):
        name = "demonstrations" if index == 0 else f"round {index}"
        ax.scatter(*states.T, s=3, alpha=0.5, color=COLORS[index % len(COLORS)], label=name)
    ax.set_xlabel("offset from the centre line d (m)")
    ax.set_ylabel("heading error psi (rad)")
    ax.legend(loc="upper right", fontsize=8)
    names = ["demos", *(f"round {i}" for i in range(1, len(seeds[0])))]
    reach = [
        ", ".join(
            f"{name} {fmt([np.abs(s[i][:, 0]).max() for s in seeds])}"
            for i, name in enumerate(names)
        )
    ]
    farther = [np.abs(s[1][:, 0]).max() > np.abs(s[0][:, 0]).max() for s in seeds]
    k, n = stats.count_holds(farther)
    caption = (
        f"Lane, seed {scale.seeds[0]}: the {DEMOS} expert demonstrations and the states each "
        "DAgger round adds (mitigation=dagger's defaults: the learner drives, mixed with the "
        "expert at beta_i, and the expert labels every state), bcx's Gaussian policy refit for "
        f"{steps} Adam steps (a plain PyTorch loop) on the aggregate before each round. Over "
        f"seeds {', '.join(map(str, scale.seeds))}, the largest |offset| (m) each adds, mean "
        f"[95% CI]: {reach[0]}. Result: the first round's learner takes the car farther from "
        f"the centre line than the demonstrations go, so the expert labels states they never "
        f"show, {stats.holds_on(k, n)}."
    )
    return [save_figure(fig, out, NAME, TITLE, caption)]
