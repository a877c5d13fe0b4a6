"""``bcx-expert env=<name>``: train a SAC expert with stable-baselines3 and ship its actor.

Training checkpoints (model + replay buffer) go to ``work_dir`` every ``checkpoint_every`` steps,
so rerunning a killed command continues where it stopped. Each checkpoint also
gets a short progress evaluation, and the actor with the best one so far is kept in ``work_dir``.
At the end the last (``ship=last``) or best (``ship=best``) actor is exported to the zoo, reloaded
the way ``expert=zoo`` loads it, and evaluated on seeds the progress evaluations never saw; the
measured return goes into ``meta.json`` next to it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path

import gymnasium as gym
import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from bcx.conf_dir import CONF_DIR
from bcx.envs import import_env_module
from bcx.errors import BCXError, exit_with
from bcx.experts.zoo import ACTOR_FILE, META_FILE, ZOO_DIR, ZooExpert, save_actor
from bcx.io import atomic_write, atomic_write_json
from bcx.quiet import quiet
from bcx.results.provenance import provenance
from bcx.rollout import random_policy, rollout

log = logging.getLogger("bcx.expert")
MODEL_FILE, BUFFER_FILE, PROGRESS_FILE = "sac.zip", "replay_buffer.pkl", "progress.csv"
BEST_FILE, BEST_ZOO = "best.json", "best_zoo"  # the best progress evaluation and its actor
SHIP_CHOICES = ("last", "best")


def train_expert(cfg: DictConfig) -> dict:
    """Train (or resume) SAC to ``cfg.steps``, export the actor, evaluate it; returns the meta."""
    if cfg.steps < 1 or cfg.checkpoint_every < 1 or cfg.eval_episodes < 1:
        raise BCXError("steps, checkpoint_every and eval_episodes must be positive integers.")
    if cfg.ship not in SHIP_CHOICES:
        raise BCXError(f"ship must be one of {', '.join(SHIP_CHOICES)} (got {cfg.ship!r}).")
    torch.set_num_threads(cfg.threads)
    import_env_module(cfg.env)  # a user's env (env.module) registers its id first
    work_dir = Path(cfg.work_dir)
    zoo_folder = Path(cfg.zoo_dir or ZOO_DIR) / cfg.env.id
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    model = load_or_create(cfg, env, work_dir)
    started = time.perf_counter()
    # Progress evaluations load the actor from a zoo folder of the work dir, as expert=zoo
    # would; only the finished actor goes to the real zoo.
    progress_folder = work_dir / "progress_zoo" / cfg.env.id
    while model.num_timesteps < cfg.steps:
        chunk = min(cfg.checkpoint_every, cfg.steps - model.num_timesteps)
        model.learn(total_timesteps=chunk, reset_num_timesteps=False, progress_bar=False)
        save_checkpoint(model, work_dir)
        export_actor(model, env, progress_folder)
        seconds = time.perf_counter() - started
        row = log_progress(cfg, work_dir, progress_folder, model.num_timesteps, seconds)
        keep_if_best(work_dir, progress_folder, row)
    if cfg.ship == "best":
        steps = ship_best(work_dir, cfg.env.id, zoo_folder)
    else:
        export_actor(model, env, zoo_folder)
        steps = model.num_timesteps
    meta = evaluate(cfg, zoo_folder, steps, env)
    atomic_write_json(zoo_folder / META_FILE, meta)
    result = meta["eval"]
    log.info(
        "%s: return %.1f +- %.1f over %d episodes -> %s",
        cfg.env.id,
        result["return_mean"],
        result["return_std"],
        cfg.eval_episodes,
        zoo_folder,
    )
    return meta


def load_or_create(cfg: DictConfig, env: gym.Env, work_dir: Path):
    """The checkpointed model with its replay buffer, or a fresh SAC with the configured setting."""
    from stable_baselines3 import SAC

    if (work_dir / MODEL_FILE).is_file():
        model = SAC.load(work_dir / MODEL_FILE, env=env, device="cpu")
        model.load_replay_buffer(work_dir / BUFFER_FILE)
        log.info("resuming %s at step %d from %s", cfg.env.id, model.num_timesteps, work_dir)
        return model
    hyper = OmegaConf.to_container(cfg.sac, resolve=True)
    return SAC("MlpPolicy", env, seed=cfg.seed, device="cpu", verbose=0, **hyper)


def save_checkpoint(model, work_dir: Path) -> None:
    """Model and replay buffer, each renamed into place so a kill leaves the last complete pair."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for name, save in ((BUFFER_FILE, model.save_replay_buffer), (MODEL_FILE, model.save)):
        tmp = work_dir / f".{name}.tmp{Path(name).suffix}"
        save(tmp)
        os.replace(tmp, work_dir / name)


def export_actor(model, env: gym.Env, folder: Path) -> None:
    """Write SAC's deterministic actor (trunk + mean layer) as a torch-only ``actor.pt``."""
    actor = model.policy.actor
    weights = {f"trunk.{k}": v for k, v in actor.latent_pi.state_dict().items()}
    weights |= {f"mean.{k}": v for k, v in actor.mu.state_dict().items()}
    space = env.action_space
    atomic_write(folder / ACTOR_FILE, lambda f: save_actor(f, weights, space.low, space.high))
    if not (folder / META_FILE).is_file():  # ZooExpert needs the shapes before the final eval
        atomic_write_json(folder / META_FILE, shapes(env))


def shapes(env: gym.Env) -> dict:
    return {
        "obs_shape": list(env.observation_space.shape),
        "act_shape": list(env.action_space.shape),
    }


def read_best(work_dir: Path) -> dict | None:
    path = work_dir / BEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def keep_if_best(work_dir: Path, progress_folder: Path, row: dict) -> None:
    """Copy the actor just evaluated to ``<work_dir>/best_zoo`` if no earlier one scored higher.

    SAC's return can swing by thousands between checkpoints (Ant falls over in some episodes
    after a bad update), so the last checkpoint is not always the one worth shipping.
    """
    best = read_best(work_dir)
    if best is not None and best["return_mean"] >= row["return_mean"]:
        return
    copy_actor(progress_folder, work_dir / BEST_ZOO / progress_folder.name)
    atomic_write_json(work_dir / BEST_FILE, row)
    log.info("best progress evaluation so far: step %d", row["steps"])


def ship_best(work_dir: Path, env_id: str, zoo_folder: Path) -> int:
    """Export the kept best actor to the zoo; returns the training step it was saved at."""
    best = read_best(work_dir)
    if best is None:
        raise BCXError(
            f"ship=best: {work_dir / BEST_FILE} does not exist; no progress evaluation has been "
            "run yet. Train at least checkpoint_every steps, or use ship=last."
        )
    copy_actor(work_dir / BEST_ZOO / env_id, zoo_folder)
    return int(best["steps"])


def copy_actor(source: Path, target: Path) -> None:
    for name in (ACTOR_FILE, META_FILE):
        data = (source / name).read_bytes()
        atomic_write(target / name, lambda f, data=data: f.write(data))


def episode_returns(cfg: DictConfig, policy_for, episodes: int, first_seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes on seeds first_seed + i, 10 envs stepped together."""
    envs = [gym.make(cfg.env.id, **cfg.env.kwargs) for _ in range(min(10, episodes))]
    policy = policy_for(envs[0])
    seeds = [first_seed + i for i in range(episodes)]
    return np.array([t.rewards.sum() for t in rollout(policy, envs, seeds)])


def log_progress(
    cfg: DictConfig, work_dir: Path, zoo_folder: Path, steps: int, seconds: float
) -> dict:
    """Append a short evaluation of the actor just exported to ``<work_dir>/progress.csv``.

    It runs on seeds from ``progress_seed``, never the final evaluation's, so picking the best
    checkpoint by it does not inflate the return recorded in meta.json.
    """
    zoo_dir = zoo_folder.parent
    returns = episode_returns(
        cfg,
        lambda env: ZooExpert(env=env, zoo_dir=zoo_dir),
        cfg.progress_episodes,
        first_seed=cfg.progress_seed,
    )
    row = {
        "steps": steps,
        "return_mean": round(float(returns.mean()), 2),
        "return_std": round(float(returns.std()), 2),
        "train_seconds": round(seconds, 1),
    }
    path = work_dir / PROGRESS_FILE
    is_new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if is_new:
            writer.writeheader()
        writer.writerow(row)
    log.info("%s step %d: return %.1f +- %.1f", cfg.env.id, steps, *list(row.values())[1:3])
    return row


def evaluate(cfg: DictConfig, zoo_folder: Path, steps: int, env: gym.Env) -> dict:
    """meta.json: the shipped actor's return (loaded as expert=zoo loads it) and provenance."""
    zoo_dir = zoo_folder.parent
    returns = episode_returns(
        cfg, lambda e: ZooExpert(env=e, zoo_dir=zoo_dir), cfg.eval_episodes, cfg.eval_seed
    )
    random_returns = episode_returns(
        cfg,
        lambda e: random_policy(e.action_space, seed=cfg.eval_seed),
        cfg.eval_episodes,
        cfg.eval_seed,
    )
    return {
        "env_id": cfg.env.id,
        "algo": "sac",
        "steps": steps,
        "shipped": cfg.ship,
        "seed": cfg.seed,
        "hyperparameters": OmegaConf.to_container(cfg.sac, resolve=True),
        **shapes(env),
        "eval": {
            "episodes": cfg.eval_episodes,
            "seeds_from": cfg.eval_seed,
            "deterministic": True,
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "random_return_mean": float(random_returns.mean()),
        },
        **provenance(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@hydra.main(config_path=CONF_DIR, config_name="expert_train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    quiet()
    try:
        train_expert(cfg)
    except BCXError as error:
        exit_with("bcx-expert", error)


if __name__ == "__main__":
    main()
