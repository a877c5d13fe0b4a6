"""Figure 4: the states DART's noisy expert visits around the demonstrations (Laskey et al. 2017).

For each seed, the Stanley expert drives lane twice on the same roads: once clean (the
demonstrations) and once with ``mitigation=dart``'s default noise on its executed steering (the
label stays its clean action). The figure draws the first seed's states in the lane's (offset,
heading error) plane; the caption reports, over seeds, how much wider DART's states spread than
the demonstrations' in offset, and how many of DART's states lie outside the demonstrations'
range: the recoveries a plain-BC learner never sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcx import stats
from bcx.api import compose
from bcx.builders import build_expert, make_envs
from bcx.data.collector import Collector
from bcx.mitigations.dart import Dart
from bcx.paper.output import Artifact, plt, save_figure
from bcx.paper.runs import Scale, fmt

NAME = "dart_states"
TITLE = "Figure 4: the states DART's noisy expert visits around the demonstrations"
EPISODES = 2  # per seed and driver: the lane studies' training demonstrations


def specs(scale: Scale) -> list:
    return []  # no training: expert episodes only


def measure(seed: int) -> dict:
    """One seed's clean and noisy expert states (N, obs_dim) on the same collection seeds."""
    cfg = compose(["env=lane", "mitigation=dart"])
    envs = make_envs(cfg.env, EPISODES)
    expert = build_expert(cfg, envs[0])
    dart = Dart(env=envs[0], noise=cfg.mitigation.noise, seed=seed)
    first = 100 * seed  # this seed's roads, the same for both drivers
    clean = Collector(expert, envs, first_seed=first, progress=False).expert_episodes(EPISODES)
    noisy_collector = Collector(expert, envs, first_seed=first, progress=False)
    noisy = noisy_collector.episodes(noisy_collector.noisy_expert(dart.initial_cov, seed), EPISODES)
    low, high = clean.obs[:, 0].min(), clean.obs[:, 0].max()
    outside = np.mean((noisy.obs[:, 0] < low) | (noisy.obs[:, 0] > high))
    return {
        "seed": seed,
        "clean": clean.obs[:, :2],
        "noisy": noisy.obs[:, :2],
        "ratio": noisy.obs[:, 0].std() / clean.obs[:, 0].std(),
        "outside": float(outside),
        "noise": float(cfg.mitigation.noise),
    }


def render(out: Path, scale: Scale, runs: dict, **_) -> list[Artifact]:
    seeds = [measure(seed) for seed in scale.seeds]
    first = seeds[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(*first["noisy"].T, s=3, alpha=0.4, color="tab:orange", label="DART's noisy expert")
    ax.scatter(*first["clean"].T, s=3, alpha=0.6, color="tab:blue", label="demonstrations")
    ax.set_xlabel("offset from the centre line d (m)")
    ax.set_ylabel("heading error psi (rad)")
    ax.legend(loc="upper right", fontsize=8)
    k, n = stats.count_holds([s["ratio"] > 1 for s in seeds])
    caption = (
        f"Lane, seed {first['seed']}: the states of {EPISODES} clean expert episodes (the "
        f"demonstrations) and of {EPISODES} episodes on the same roads with DART's default "
        f"noise (std {first['noise']} of the steering range on the executed action; the labels "
        f"stay the expert's clean actions). Result: over seeds {', '.join(map(str, scale.seeds))} "
        f"(mean [95% CI]): DART's states spread {fmt([s['ratio'] for s in seeds], 1)} times as "
        f"wide in offset (wider {stats.holds_on(k, n)}), and "
        f"{fmt([100 * s['outside'] for s in seeds], 0)}% of them lie outside the range of "
        "offsets the demonstrations visit."
    )
    return [save_figure(fig, out, NAME, TITLE, caption)]
