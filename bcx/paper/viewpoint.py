"""Figure 3: NVIDIA's synthesized views and their corrective labels, from real lane frames.

For each seed, the Stanley expert drives lane (its own road) with the forward camera; the frame
at the episode's middle is warped to the views from the car shifted sideways and rotated
(``lane_camera.synthesize_view``, the flat-ground homography Bojarski et al. used), and each view
gets the steering that brings the car back to the centre line and heading in 2 s
(``LaneEnv.corrective_actions``, what ``augment method=viewpoint`` trains on). The figure draws the
first seed's views over the exact renders of the same poses, each with its label as a steering
needle; the caption reports, over seeds, how far the warp is from the exact render and how the
rule's labels compare with the expert's at the moved car (what ``method=rerender`` trains on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcx import stats
from bcx.api import compose
from bcx.builders import make_envs
from bcx.data.collector import Collector
from bcx.envs.lane_camera import synthesize_view
from bcx.experts.stanley import StanleyExpert
from bcx.paper.output import Artifact, plt, save_figure
from bcx.paper.runs import Scale, fmt

NAME = "viewpoint"
TITLE = "Figure 3: synthesized views with corrective steering labels"
SIZE = 64  # px: large enough to see the road's edges in print
POSES = ((0.0, 0.0), (0.5, 0.0), (-0.5, 0.0), (0.0, 0.08), (0.0, -0.08))  # (shift m, rotation rad)


def specs(scale: Scale) -> list:
    return []  # no training: one expert episode per seed


def measure(seed: int) -> dict:
    """One seed: the recorded frame, its warped and exactly rendered views of POSES, the rule's
    and the expert's labels there, and the mean absolute warp error (grey levels)."""
    cfg = compose(
        ["env=lane", "obs.keys=[pixels]", "encoder=conv", f"env.pixels.image_size={SIZE}"]
    )
    env = make_envs(cfg.env, 1, images=True)[0]
    expert = StanleyExpert(env=env)
    demos = Collector(expert, [env], first_seed=seed, progress=False).expert_episodes(1)
    row = len(demos) // 2
    state, frame = demos.obs[row : row + 1], demos.frames["pixels"][row]
    lane = env.unwrapped
    shift, rotation = (np.array([p[i] for p in POSES]) for i in (0, 1))
    moved = lane.moved_states(np.repeat(state, len(POSES), axis=0), shift, rotation)
    warped = synthesize_view(np.repeat(frame[None], len(POSES), axis=0), "center", shift, rotation)
    exact = np.stack([lane.render_state(state[0], "center", dx, dr) for dx, dr in POSES])
    horizon = SIZE // 2  # the ground: the warp keeps the sky as it is
    error = np.abs(warped[:, horizon:].astype(float) - exact[:, horizon:]).mean(axis=(1, 2, 3))
    return {
        "seed": seed,
        "warped": warped,
        "exact": exact,
        "rule": lane.corrective_actions(moved)[:, 0],
        "expert": expert(moved)[:, 0],
        "error": error[1:].mean(),  # the moved poses (the first is the frame itself)
        "error_unwarped": np.abs(exact[1:, horizon:].astype(float) - frame[horizon:]).mean(),
    }


def _needle(ax, label: float, color: str) -> None:
    """The steering label as a needle from the bottom centre (left = positive)."""
    angle = np.pi / 2 + label * np.pi / 3
    x0, y0 = SIZE / 2, SIZE - 1
    ax.plot([x0, x0 + 20 * np.cos(angle)], [y0, y0 - 20 * np.sin(angle)], color=color, lw=2)


def render(out: Path, scale: Scale, runs: dict, **_) -> list[Artifact]:
    seeds = [measure(seed) for seed in scale.seeds]
    first = seeds[0]
    fig, axes = plt.subplots(2, len(POSES), figsize=(2.2 * len(POSES), 4.6))
    for j, (dx, dr) in enumerate(POSES):
        for i, images in enumerate((first["warped"], first["exact"])):
            ax = axes[i, j]
            ax.imshow(images[j])
            _needle(ax, first["rule"][j], "yellow")
            _needle(ax, first["expert"][j], "magenta")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"shift {dx:+.1f} m\nrotation {dr:+.2f} rad", fontsize=8)
    axes[0, 0].set_ylabel("synthesized", fontsize=8)
    axes[1, 0].set_ylabel("exact render", fontsize=8)
    differences = [np.abs(s["rule"] - s["expert"]).mean() for s in seeds]
    same_sign = [
        bool(
            np.all(
                np.sign(s["rule"][1:] - s["rule"][0]) == np.sign(s["expert"][1:] - s["expert"][0])
            )
        )
        for s in seeds
    ]
    k, n = stats.count_holds(same_sign)
    caption = (
        f"Seed {first['seed']}'s middle frame of an expert episode on lane ({SIZE}x{SIZE}, the "
        "driver's camera; leftmost: the recorded pose), warped to the car shifted and rotated "
        "(top) and rendered exactly at the same pose (bottom); needles: the corrective label of "
        "augment method=viewpoint (yellow: steer back to the centre line and heading in 2 s) and "
        "the Stanley expert's label at the moved car (magenta). Result: over seeds "
        f"{', '.join(map(str, scale.seeds))} (mean [95% CI]): the warp is "
        f"{fmt([s['error'] for s in seeds], 1)} grey levels from the exact render on the ground "
        f"(the unwarped frame: {fmt([s['error_unwarped'] for s in seeds], 1)}); the rule's label "
        f"is {fmt(differences, 3)} from the expert's (actions in [-1, 1]), and it steers back "
        f"the same way as the expert for every moved pose {stats.holds_on(k, n)}."
    )
    return [save_figure(fig, out, NAME, TITLE, caption)]
