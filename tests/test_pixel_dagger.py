"""From the camera, DAgger shrinks the loss gap that BC's own states open.

Lane's 32x32 forward camera, 2 training roads, 600 steps of batch 64 (the BC pixel test's
budget), DAgger with 2 rounds against plain BC, on 3 seeds of this test's own. Measured when
it was written (`shift/gap`, on-policy NLL minus training NLL, BC vs DAgger): 115.9 vs 27.3,
20.9 vs -0.17 and 7.2 vs 3.8 on these seeds; on seeds 41 and 42, 67.0 vs 0.53 and -0.010 vs
-0.004 (both near 0: BC finished every road there, and there was no gap to shrink).
`experiment=nvidia_car` measures the same over 5 other seeds at 1000 steps (docs/pixels.md)."""

from __future__ import annotations

import numpy as np

from bcx.pipeline import run
from tests.conftest import TINY

SEEDS = (31, 32, 33)
PIXELS = ["env=lane", "obs.keys=[pixels]", "encoder=conv", "data.batch_size=64"]


def pixel_lane(make_cfg, folder, seed: int, *overrides: str) -> dict:
    return run(
        make_cfg(
            *PIXELS,
            f"run_dir={folder}",
            f"seed={seed}",
            f"data.seed={100 * seed}",
            "data.episodes=3",
            "trainer.max_steps=600",
            "rollout.episodes=4",
            "rollout.num_envs=4",
            *TINY,
            *overrides,
        )
    )


def test_dagger_from_the_camera_shrinks_bcs_gap(make_cfg, tmp_path):
    bc, dagger = [], []
    for seed in SEEDS:
        bc.append(pixel_lane(make_cfg, tmp_path / f"bc{seed}", seed))
        dagger.append(
            pixel_lane(
                make_cfg, tmp_path / f"dagger{seed}", seed, "mitigation=dagger",
                "mitigation.rounds=2",
            )
        )  # fmt: skip
    gaps = np.array([[m["shift/gap"] for m in runs] for runs in (bc, dagger)])
    returns = np.array([[m["rollout/normalized_return"] for m in runs] for runs in (bc, dagger)])
    assert np.all(gaps[1] < gaps[0] + 0.1), gaps  # never wider, within noise where BC has none
    assert gaps[1].mean() < 0.5 * gaps[0].mean(), gaps
    assert returns[1].mean() >= returns[0].mean(), returns  # and it drives at least as well
