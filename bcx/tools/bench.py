"""``make bench``: bcx's overheads, measured side by side in one run and printed as ratios.

(a) ``train_vs_raw``: training steps/s of bcx (LightningModule + in-memory datamodule + the
    app's Trainer setup) over a plain PyTorch loop on the same model, data and batch size.
(b) ``rollout_vs_raw``: env-steps/s of the rollout callback's measurement (batched policy over
    vectorized envs, expert labelling, loss evaluation) over raw gymnasium stepping of one env
    with the same policy called on each observation.
(c) ``shift_measure_overhead``: in the default experiment (``make run``), the time its rollout
    measurement spent on the training states (up to 2000 per measurement) over the rest of its
    rollout measurement time; target <= 0.10.
(d) per policy head: bcx training steps/s and the latency of one batched action for 16 envs;
    targets: gmm and discrete training within 1.2x of gaussian, diffusion latency <= 10x.
(e) pixels (``bcx.tools.bench_pixels``): (a) and (b) for ``encoder=conv`` on lane's 64x64
    forward camera, and lane's frames/s; targets >= 0.9 and >= 0.8. ``--only pixels`` runs
    these alone, into ``outputs/bench/pixels.json``.
Results go to ``outputs/bench/latest.json``. Targets: (a) >= 0.85, (b) >= 0.8. ``--device cuda``
runs the training measurements of (a) and (e) on the GPU, both sides, and records their peak
GPU memory; the rest stays on the CPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from bcx.builders import (
    build_expert,
    build_head,
    build_policy,
    build_trainer,
    learner_image_keys,
    make_envs,
    new_module,
)
from bcx.conf_dir import CONF_DIR
from bcx.data.datamodule import DemoDataModule
from bcx.data.demos import Demonstrations
from bcx.data.tensors import observation_tensors
from bcx.io import atomic_write_json
from bcx.measure.shift import ShiftCallback
from bcx.pipeline import run
from bcx.quiet import quiet
from bcx.types import STATE, state_of


def config(*overrides: str) -> DictConfig:
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=["run_dir=outputs/bench/run", *overrides])


def synthetic_demos(
    pairs: int,
    obs_dim: int,
    act_dim: int,
    seed: int = 0,
    frames: tuple[str, ...] = (),
    size: int = 64,
) -> Demonstrations:
    """Random state-action pairs shaped like a HalfCheetah dataset: throughput only. obs (pairs,
    obs_dim) float32, actions (pairs, act_dim) in [-1, 1]; with ``frames``, random uint8 images
    (pairs, size, size, 3) under each of those keys."""
    rng = np.random.default_rng(seed)
    return Demonstrations(
        obs=rng.standard_normal((pairs, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, (pairs, act_dim)).astype(np.float32),
        episode_lengths=np.array([pairs]),
        returns=np.zeros(1),
        frames={key: rng.integers(0, 256, (pairs, size, size, 3), np.uint8) for key in frames},
    )


def env_demos(env: gym.Env, pairs: int) -> Demonstrations:
    """synthetic_demos shaped like ``env``'s observations: its state and, for a Dict env, its
    (square) images."""
    space = env.observation_space
    if not isinstance(space, gym.spaces.Dict):
        return synthetic_demos(pairs, *space.shape, *env.action_space.shape)
    images = tuple(key for key in space.spaces if key != STATE)
    size = space[images[0]].shape[0] if images else 0
    state_dim, act_dim = space[STATE].shape[0], env.action_space.shape[0]
    return synthetic_demos(pairs, state_dim, act_dim, frames=images, size=size)


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(pl.Callback):
    """Wall time between the end of step ``warmup`` and the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step in (self.warmup, trainer.max_steps):
            synchronize(trainer.strategy.root_device)
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def raw_train_steps_per_s(
    cfg: DictConfig,
    env: gym.Env,
    demos: Demonstrations,
    steps: int,
    warmup: int,
    device: str = "cpu",
) -> float:
    """A plain PyTorch loop (``fit``) on ``device``, timed after ``warmup`` steps."""
    torch.manual_seed(0)
    policy = build_policy(cfg, env, demos, build_head(cfg, env)).to(device)
    fit(policy, demos, warmup, cfg.data.batch_size, cfg.optim.lr, device)
    synchronize(device)
    start = time.perf_counter()
    fit(policy, demos, steps, cfg.data.batch_size, cfg.optim.lr, device)
    synchronize(device)
    return steps / (time.perf_counter() - start)


def bcx_train_steps_per_s(
    cfg: DictConfig, env: gym.Env, demos: Demonstrations, steps: int, warmup: int
) -> float:
    """The app's own training path, without rollouts (those are measured in (b)), on the
    device of cfg's trainer."""
    torch.manual_seed(0)
    module = new_module(cfg, env, demos, build_head(cfg, env))
    timer = StepTimer(warmup)
    trainer = build_trainer(cfg, instantiate(cfg.logger), 1, timer)
    data = DemoDataModule(
        demos, demos, batch_size=cfg.data.batch_size, seed=0, frame_keys=learner_image_keys(cfg)
    )
    trainer.fit(module, datamodule=data)
    return steps / (timer.end - timer.start)


def side_by_side(
    cfg: DictConfig, env: gym.Env, demos: Demonstrations, steps: int, warmup: int, repeats: int
) -> dict:
    """Training steps/s of both sides, alternated ``repeats`` times so that machine noise hits
    both alike, best kept: {"bcx", "raw"}, plus {"gpu_memory_bytes": {"bcx", "raw"}} (each
    side's torch.cuda.max_memory_allocated) when cfg's trainer runs on the GPU."""
    device = "cuda" if cfg.trainer.accelerator == "gpu" else "cpu"
    sides = {
        "raw": lambda: raw_train_steps_per_s(cfg, env, demos, steps, warmup, device),
        "bcx": lambda: bcx_train_steps_per_s(cfg, env, demos, steps, warmup),
    }
    rates: dict[str, list[float]] = {side: [] for side in sides}
    memory = dict.fromkeys(sides, 0)
    for _ in range(repeats):
        for side, measure in sides.items():
            if device == "cuda":
                gc.collect()  # the other side's leftovers (a Trainer's cycles) are not counted
                torch.cuda.reset_peak_memory_stats()
            rates[side].append(measure())
            if device == "cuda":
                memory[side] = max(memory[side], torch.cuda.max_memory_allocated())
    result: dict = {side: max(rates[side]) for side in ("bcx", "raw")}
    if device == "cuda":
        result["gpu_memory_bytes"] = memory
    return result


def rollout_env_steps_per_s(
    cfg: DictConfig, episodes: int, alone: bool = False
) -> tuple[float, ...]:
    """(callback measurement, raw single-env loop) env-steps/s with the same untrained policy,
    and with ``alone`` the callback's rollouts without their labels and losses (a third
    figure); with images in cfg's obs.keys, the envs render them and the policy reads them."""
    envs = make_envs(cfg.env, cfg.rollout.num_envs, images=bool(learner_image_keys(cfg)))
    expert = build_expert(cfg, envs[0])
    demos = env_demos(envs[0], 1000)
    torch.manual_seed(0)
    module = new_module(cfg, envs[0], demos, build_head(cfg, envs[0]))
    seeds = [cfg.rollout.seed + i for i in range(episodes)]
    shift = ShiftCallback(
        envs=envs,
        expert=expert,
        seeds=seeds,
        every_n_steps=1,
        held_out=demos,
        training=demos,
        progress=False,
    )
    shift.baselines()  # computed once per run in the app too, not per measurement
    start = time.perf_counter()
    measured = shift.measure(module)
    callback_rate = measured["rollout/length"] * episodes / (time.perf_counter() - start)
    rates = (callback_rate, raw_rollout_steps_per_s(module.policy, envs[0], seeds))
    if not alone:
        return rates
    start = time.perf_counter()
    shift.rollout(module.policy.numpy_fn(), "rollout")
    return *rates, measured["rollout/length"] * episodes / (time.perf_counter() - start)


def raw_rollout_steps_per_s(policy: torch.nn.Module, env: gym.Env, seeds: list[int]) -> float:
    """Env-steps/s of one env stepped with ``policy`` called on each observation (state (1,
    obs_dim) and, for a policy that sees images, its frame (1, H, W, 3)), one episode per seed."""
    steps, start = 0, time.perf_counter()
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            frames = {key: image[None] for key, image in policy.seen_frames(obs).items()}
            action = policy.act(observation_tensors(state_of(obs)[None], frames))[0]
            obs, _, terminated, truncated, _ = env.step(action.numpy())
            done, steps = terminated or truncated, steps + 1
    return steps / (time.perf_counter() - start)


def shift_measure_overhead() -> dict:
    """The default experiment, run once as ``make run`` runs it: the seconds its rollout
    measurement spent on the training states over the rest of its rollout measurement time
    (``run.rollout_train_states_s`` / ``run.rollout_time_s`` of its metrics.json, baselines
    included as that figure includes them)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config("trainer.enable_progress_bar=false", "logger=none", f"run_dir={tmp}",
                     f"resume_dir={tmp}/rounds")  # fmt: skip
        run(cfg)
        timing = json.loads((Path(tmp) / "metrics.json").read_text())["run"]
    train_part = timing["rollout_train_states_s"]
    return {
        "ratio": train_part / (timing["rollout_time_s"] - train_part),
        "rollout_time_s": timing["rollout_time_s"],
        "train_states_s": train_part,
        "env": cfg.env.id,
    }


def fit(
    policy: torch.nn.Module,
    demos: Demonstrations,
    steps: int,
    batch: int,
    lr: float,
    device: str = "cpu",
) -> None:
    """A plain PyTorch fit on ``device``: index random rows (of the states (N, obs_dim) and, for
    a policy that sees images, its frames (N, H, W, 3) uint8 too), head loss, backward, Adam."""
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    frames = {key: demos.frames[key] for key in [policy.image_key] if key is not None}
    obs = observation_tensors(demos.obs, frames, device)
    actions = torch.as_tensor(demos.actions, device=device)
    for _ in range(steps):
        idx = torch.randint(len(actions), (batch,), device=device)
        rows = {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx]
        loss = policy.loss(rows, actions[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def head_config(name: str, steps: int, warmup: int) -> DictConfig:
    return config(
        f"policy={name}",
        f"trainer.max_steps={warmup + steps}",
        f"trainer.val_check_interval={warmup + steps}",
        "trainer.enable_progress_bar=false",
    )


def act_ms(policy: torch.nn.Module, obs: torch.Tensor, calls: int = 100) -> float:
    """Mean wall time of one batched deterministic action, in ms."""
    for _ in range(10):
        policy.act(obs)
    start = time.perf_counter()
    for _ in range(calls):
        policy.act(obs)
    return (time.perf_counter() - start) * 1000 / calls


def head_figures(demos: Demonstrations, env: gym.Env, steps: int, warmup: int) -> dict:
    """Per head (every conf/policy/*.yaml): bcx training steps/s and the latency of one batched
    action (mode) for 16 envs, in ms."""
    names = sorted(path.stem for path in (Path(CONF_DIR) / "policy").glob("*.yaml"))
    obs = torch.as_tensor(demos.obs[:16])
    # Latencies first, in a process no Trainer has run in yet: after a fit, the same calls
    # measured up to 30x slower here, which says more about leftover threads than about a head.
    latency = {}
    for name in names:
        cfg = head_config(name, steps, warmup)
        latency[name] = act_ms(build_policy(cfg, env, demos, build_head(cfg, env)), obs)
    return {
        name: {
            "train_steps_per_s": bcx_train_steps_per_s(
                head_config(name, steps, warmup), env, demos, steps, warmup
            ),
            "act_ms_batch16": latency[name],
        }
        for name in names
    }


def dagger_round(steps: int) -> dict[str, float]:
    """Wall time of DAgger's first learner round on lane (8 envs, 8 episodes), split into the
    learner's rollouts, the expert's batched labelling and the fit."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(
            "env=lane",
            "mitigation=dagger",
            "mitigation.rounds=2",
            "mitigation.episodes_per_round=8",
            f"trainer.max_steps={steps}",
            f"trainer.val_check_interval={steps}",
            f"rollout.every_n_steps={steps}",
            "trainer.enable_progress_bar=false",
            "logger=none",
            f"run_dir={tmp}",
            f"resume_dir={tmp}/rounds",
        )
        run(cfg)
        round_one = json.loads((Path(tmp) / "metrics.json").read_text())["rounds"][1]
    return {k.removeprefix("time/"): v for k, v in round_one.items() if k.startswith("time/")}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="timed training steps per side")
    parser.add_argument("--episodes", type=int, default=32, help="rollout episodes per side")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; best kept")
    # One thread by default: on a shared 2-core machine a second OpenMP thread waiting for a busy
    # core makes either side arbitrarily slow, and the ratios measure overhead, not BLAS.
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where training is measured"
    )
    parser.add_argument("--only", choices=["all", "pixels"], default="all", help="what to run")
    parser.add_argument("--pixel-steps", type=int, default=20, help="timed pixel training steps")
    parser.add_argument("--pixel-batch", type=int, default=64, help="pixel batch, both sides")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench: --device cuda needs a CUDA GPU, and torch sees none here.", file=sys.stderr)
        sys.exit(2)
    quiet()
    torch.set_num_threads(args.threads)
    from bcx.tools import bench_pixels  # it builds on this module

    if args.only == "pixels":
        results = bench_pixels.figures(args)
        path = Path("outputs/bench/pixels.json")
    else:
        results = {**state_figures(args), **bench_pixels.figures(args)}
        path = Path("outputs/bench/latest.json")
        print_state(results)
    atomic_write_json(path, results)
    bench_pixels.print_figures(results)
    print(f"written to {path}")


def state_figures(args: argparse.Namespace) -> dict:
    """(a) to (d) and DAgger's round, as latest.json holds them."""
    warmup = 100
    train_cfg = config(
        f"trainer.max_steps={warmup + args.steps}",
        f"trainer.val_check_interval={warmup + args.steps}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        *device_overrides(args.device),
    )
    demos = synthetic_demos(100_000, 17, 6)
    env = gym.make("HalfCheetah-v5")  # only its action bounds matter: 6 dims in [-1, 1]
    heads = head_figures(demos, env, steps=args.steps // 3, warmup=warmup)
    train = side_by_side(train_cfg, env, demos, args.steps, warmup, args.repeats)
    dagger = dagger_round(steps=args.steps // 3)
    rollout_cfg = config("env=reacher")
    rollouts = [rollout_env_steps_per_s(rollout_cfg, args.episodes) for _ in range(args.repeats)]
    # The locomotion case: 1000-step HalfCheetah episodes labelled by the zoo's SAC actor.
    cheetah = [rollout_env_steps_per_s(config("env=halfcheetah"), 8) for _ in range(args.repeats)]
    overhead = shift_measure_overhead()
    memory = train.pop("gpu_memory_bytes", None)
    return {
        "train_vs_raw": train["bcx"] / train["raw"],
        "rollout_vs_raw": max(r[0] for r in rollouts) / max(r[1] for r in rollouts),
        "train_steps_per_s": train,
        "rollout_vs_raw_halfcheetah": max(r[0] for r in cheetah) / max(r[1] for r in cheetah),
        "rollout_env_steps_per_s": {
            "callback": max(r[0] for r in rollouts),
            "raw": max(r[1] for r in rollouts),
        },
        "heads": heads,
        "dagger_round_s": dagger,
        "shift_measure_overhead": overhead["ratio"],
        "shift_measure_s": overhead,
        "gmm_train_vs_gaussian": heads["gaussian"]["train_steps_per_s"]
        / heads["gmm"]["train_steps_per_s"],
        "discrete_train_vs_gaussian": heads["gaussian"]["train_steps_per_s"]
        / heads["discrete"]["train_steps_per_s"],
        "diffusion_act_vs_gaussian": heads["diffusion"]["act_ms_batch16"]
        / heads["gaussian"]["act_ms_batch16"],
        **({"train_gpu_memory_bytes": memory} if memory else {}),
        "setup": {
            "model": list(train_cfg.model.hidden),
            "batch_size": train_cfg.data.batch_size,
            "train_data": "100k synthetic pairs, obs 17, act 6",
            "rollout_env": rollout_cfg.env.id,
            "rollout_episodes": args.episodes,
            "num_envs": rollout_cfg.rollout.num_envs,
            "torch_threads": torch.get_num_threads(),
            "train_device": args.device,
        },
    }


def device_overrides(device: str) -> list[str]:
    """The config overrides that train on ``device`` (cpu: the default trainer)."""
    return ["trainer=gpu"] if device == "cuda" else []


def print_state(results: dict) -> None:
    """The table of (a) to (d) and DAgger's round."""
    train, overhead, dagger = (
        results[k] for k in ("train_steps_per_s", "shift_measure_s", "dagger_round_s")
    )
    print(
        f"train_vs_raw   {results['train_vs_raw']:.2f}  (target >= 0.85; "
        f"bcx {train['bcx']:.0f} vs raw {train['raw']:.0f} steps/s)"
    )
    print(
        f"rollout_vs_raw {results['rollout_vs_raw']:.2f}  (target >= 0.80; callback "
        f"{results['rollout_env_steps_per_s']['callback']:.0f} vs raw "
        f"{results['rollout_env_steps_per_s']['raw']:.0f} env-steps/s)"
    )
    print(
        f"rollout_vs_raw {results['rollout_vs_raw_halfcheetah']:.2f}  on HalfCheetah with the zoo "
        "expert labelling (target >= 0.80)"
    )
    print(
        f"shift_measure_overhead {overhead['ratio']:.3f}  (target <= 0.10; "
        f"{1000 * overhead['train_states_s']:.0f} ms on the training states of "
        f"{overhead['rollout_time_s']:.2f} s of rollout measurement in the default run, "
        f"{overhead['env']})"
    )
    print(f"{'head':16}{'train steps/s':>15}{'act ms (B=16)':>15}")
    for name, row in results["heads"].items():
        print(f"{name:16}{row['train_steps_per_s']:15.0f}{row['act_ms_batch16']:15.3f}")
    print(
        f"gmm / discrete training cost vs gaussian: {results['gmm_train_vs_gaussian']:.2f}x / "
        f"{results['discrete_train_vs_gaussian']:.2f}x (target <= 1.2x); diffusion action "
        f"latency vs gaussian: {results['diffusion_act_vs_gaussian']:.1f}x (target <= 10x)"
    )
    print(
        "dagger round (lane, 8 learner episodes): "
        + ", ".join(f"{k.removesuffix('_s')} {1000 * v:.1f} ms" for k, v in dagger.items())
    )
    if "train_gpu_memory_bytes" in results:
        print(memory_line("train", results["train_gpu_memory_bytes"]))


def memory_line(label: str, memory: dict[str, int]) -> str:
    """Both sides' peak GPU memory, {"bcx", "raw"} in bytes, as one line in MiB."""
    mib = {side: round(used / 2**20) for side, used in memory.items()}
    return f"{label} GPU memory: bcx {mib['bcx']} MiB, raw {mib['raw']} MiB"


if __name__ == "__main__":
    main()
