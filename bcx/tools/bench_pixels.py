"""``make bench``'s pixel measurements (``--only pixels`` runs them alone): ``encoder=conv`` on
lane's forward camera, 64x64.

- ``pixel_train_vs_raw``: bcx training steps/s over a plain PyTorch loop, same ConvEncoder policy,
  batch (``--pixel-batch``, both sides) and data (random uint8 frames); target >= 0.9.
- ``pixel_rollout_vs_raw``: the rollout callback's env-steps/s over one env stepped, rendering its
  frame, with the same untrained policy called on each frame; target >= 0.8. The callback's
  figure includes its losses on 1000 training and 1000 held-out states (random frames), a fixed
  cost per measurement; ``callback_rollouts_alone`` is its batched rollouts without them.
- ``lane_render_fps_64``: frames/s of lane rendering one 64x64 forward frame.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from omegaconf import DictConfig

from bcx.builders import make_envs
from bcx.tools.bench import (
    config,
    device_overrides,
    env_demos,
    memory_line,
    rollout_env_steps_per_s,
    side_by_side,
)

SIZE = 64  # px, the side of the frames measured
PIXELS = ("env=lane", "obs.keys=[pixels]", "encoder=conv", f"env.pixels.image_size={SIZE}")
TRAIN_PAIRS = 4096  # synthetic state-frame pairs trained on (50 MB of frames)
WARMUP = 3  # untimed steps per side


def figures(args: argparse.Namespace) -> dict:
    """The pixel ratios, lane's frames/s and their raw figures under ``pixels``."""
    train = train_steps_per_s(args)
    rollout_cfg = config(*PIXELS)
    rollouts = [
        rollout_env_steps_per_s(rollout_cfg, args.episodes, alone=True) for _ in range(args.repeats)
    ]
    rollout = {
        name: max(r[i] for r in rollouts)
        for i, name in enumerate(("callback", "raw", "callback_rollouts_alone"))
    }
    fps = render_fps(rollout_cfg)
    memory = train.pop("gpu_memory_bytes", None)
    pixels = {
        "train_steps_per_s": train,
        "rollout_env_steps_per_s": rollout,
        **({"train_gpu_memory_bytes": memory} if memory else {}),
        "setup": {
            "env": rollout_cfg.env.id,
            "image_size": SIZE,
            "encoder": dict(rollout_cfg.encoder),
            "model": list(rollout_cfg.model.hidden),
            "batch_size": args.pixel_batch,
            "train_data": f"{TRAIN_PAIRS} synthetic pairs, random uint8 frames",
            "train_steps": args.pixel_steps,
            "train_device": args.device,
            "rollout_episodes": args.episodes,
            "num_envs": rollout_cfg.rollout.num_envs,
        },
    }
    return {
        "pixel_train_vs_raw": train["bcx"] / train["raw"],
        "pixel_rollout_vs_raw": rollout["callback"] / rollout["raw"],
        "lane_render_fps_64": fps,
        "pixels": pixels,
    }


def train_steps_per_s(args: argparse.Namespace) -> dict:
    """side_by_side on a ConvEncoder policy: {"bcx", "raw"} steps/s (and GPU memory)."""
    steps = WARMUP + args.pixel_steps
    cfg = config(
        *PIXELS,
        f"data.batch_size={args.pixel_batch}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        *device_overrides(args.device),
    )
    env = make_envs(cfg.env, 1, images=True)[0]
    demos = env_demos(env, TRAIN_PAIRS)
    return side_by_side(cfg, env, demos, args.pixel_steps, WARMUP, args.repeats)


def render_fps(cfg: DictConfig, frames: int = 300) -> float:
    """Frames/s of ``render_state`` drawing the forward camera (SIZE, SIZE, 3) from the states
    of a few episodes driven straight ahead (distinct poses and roads, so nothing is reused)."""
    env = make_envs(cfg.env, 1, images=True)[0]
    states, seed = [], 0
    while len(states) < frames:
        obs, _ = env.reset(seed=seed)
        done, seed = False, seed + 1
        while not done and len(states) < frames:
            states.append(obs["state"])
            obs, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
            done = terminated or truncated
    start = time.perf_counter()
    for state in states:
        env.unwrapped.render_state(state, size=SIZE)
    return frames / (time.perf_counter() - start)


def print_figures(results: dict) -> None:
    """The pixel rows of the table."""
    pixels = results["pixels"]
    train, rollout = pixels["train_steps_per_s"], pixels["rollout_env_steps_per_s"]
    batch = pixels["setup"]["batch_size"]
    print(
        f"pixel_train_vs_raw   {results['pixel_train_vs_raw']:.2f}  (target >= 0.90; conv "
        f"{SIZE}x{SIZE}, batch {batch}: bcx {train['bcx']:.2f} vs raw {train['raw']:.2f} steps/s)"
    )
    print(
        f"pixel_rollout_vs_raw {results['pixel_rollout_vs_raw']:.2f}  (target >= 0.80; callback "
        f"{rollout['callback']:.0f} vs raw {rollout['raw']:.0f} env-steps/s, lane pixels; its "
        f"rollouts alone, without labels and losses, {rollout['callback_rollouts_alone']:.0f})"
    )
    print(f"lane_render_fps_64   {results['lane_render_fps_64']:.0f} frames/s")
    if "train_gpu_memory_bytes" in pixels:
        print(memory_line("pixel train", pixels["train_gpu_memory_bytes"]))
