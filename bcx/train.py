"""The Hydra app: build env, expert, data and policy from the config, fit, measure, summarize.

This is the only module that wires the families together; each of them knows nothing of Hydra.
Run it as ``bcx <overrides>`` or ``python -m bcx <overrides>``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import hydra
import numpy as np
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import WandbLogger

from bcx.callbacks.shift import ShiftCallback
from bcx.config import validate
from bcx.data import store
from bcx.data.datamodule import DemoDataModule
from bcx.data.demos import Demonstrations, collect
from bcx.errors import BCXError
from bcx.experts.base import Expert, check_matches_env
from bcx.figures import action_samples
from bcx.heads import PolicyHead
from bcx.module import BCModule
from bcx.policy import Policy
from bcx.summary import print_table, write_metrics

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("bcx")


def run(cfg: DictConfig) -> dict[str, float]:
    """One experiment; returns the final metrics (also written to ``<run_dir>/metrics.json``)."""
    validate(cfg)
    started = time.perf_counter()
    envs = make_envs(cfg.env, cfg.rollout.num_envs)
    head = build_head(cfg, envs[0])
    expert = build_expert(cfg, envs[0])
    demos = load_demonstrations(cfg, expert, envs)
    train, val = instantiate(cfg.mitigation).training_data(demos).split(cfg.data.val_episodes)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = BCModule(build_policy(cfg, envs[0], train, head), **cfg.optim)
    shift = build_shift_callback(cfg, envs, expert, val, expert_labels=len(demos))
    trainer = build_trainer(cfg, shift)
    fit_started = time.perf_counter()
    data = DemoDataModule(train, val, batch_size=cfg.data.batch_size, seed=cfg.seed)
    trainer.fit(module, datamodule=data)
    fit_seconds = time.perf_counter() - fit_started
    metrics = final_metrics(trainer, shift)
    close_loggers(trainer, metrics)
    if trainer.is_global_zero:
        timing = {
            "steps": trainer.global_step,
            "wall_time_s": time.perf_counter() - started,
            "train_time_s": fit_seconds - shift.seconds,
            "rollout_time_s": shift.seconds,
        }
        save_results(cfg, metrics, timing, module.policy, val)
    return metrics


def make_envs(env_cfg: DictConfig, count: int) -> list[gym.Env]:
    """``count`` independent instances of the configured env."""
    import bcx.envs  # noqa: F401  (registers bcx/* env ids)

    return [gym.make(env_cfg.id, **env_cfg.kwargs) for _ in range(count)]


def build_expert(cfg: DictConfig, env: gym.Env) -> Expert:
    """The configured expert, checked against the env's spaces before any work."""
    name = cfg.expert._target_.split(".")[-2]  # the module stem, which is the choice name
    expert = instantiate(cfg.expert)(env=env)
    check_matches_env(expert, env, name)
    return expert


def load_demonstrations(cfg: DictConfig, expert: Expert, envs: list[gym.Env]) -> Demonstrations:
    """Expert episodes on seeds data.seed + i, from the cache when an identical set exists."""
    seeds = [cfg.data.seed + i for i in range(cfg.data.episodes)]
    key = {
        "env": OmegaConf.to_container(cfg.env, resolve=True),
        "expert": OmegaConf.to_container(cfg.expert, resolve=True),
        "seeds": seeds,
    }
    stem = f"{cfg.env.id.replace('/', '_')}-{len(seeds)}ep"
    path = store.cache_path(cfg.data.cache_dir, key, stem)
    demos, reused = store.load_or_create(path, lambda: collect(expert, envs, seeds))
    log.info(
        "%s %d expert episodes (%d pairs): %s",
        "reused" if reused else "collected",
        demos.num_episodes,
        len(demos),
        path,
    )
    return demos


def build_head(cfg: DictConfig, env: gym.Env) -> Callable[..., PolicyHead]:
    """The configured head factory, checked against the env before any work is done."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise BCXError(
            f"policy={cfg.policy._target_.split('.')[-2]} needs a continuous (Box) action space; "
            f"env {cfg.env.id} has {space}."
        )
    head = instantiate(cfg.policy)
    head(in_features=1, action_dim=space.shape[0])  # a bad head parameter raises here, early
    return head


def build_policy(
    cfg: DictConfig, env: gym.Env, train: Demonstrations, head: Callable[..., PolicyHead]
) -> Policy:
    """Trunk + head sized by the env, observation statistics from the training data."""
    space = env.action_space
    return Policy(
        obs_mean=train.obs.mean(axis=0),
        obs_std=train.obs.std(axis=0),
        action_low=np.asarray(space.low, dtype=np.float32),
        action_high=np.asarray(space.high, dtype=np.float32),
        hidden=list(cfg.model.hidden),
        activation=cfg.model.activation,
        obs_std_min=cfg.model.obs_std_min,
        head=head,
    )


def build_shift_callback(
    cfg: DictConfig, envs: list[gym.Env], expert: Expert, val: Demonstrations, expert_labels: int
) -> ShiftCallback:
    """The rollout measurement on evaluation seeds rollout.seed + i."""
    return ShiftCallback(
        envs=envs[: cfg.rollout.episodes],
        expert=expert,
        seeds=[cfg.rollout.seed + i for i in range(cfg.rollout.episodes)],
        every_n_steps=cfg.rollout.every_n_steps,
        held_out=val,
        expert_labels=expert_labels,
        deterministic=cfg.rollout.deterministic,
    )


def build_trainer(cfg: DictConfig, *callbacks: pl.Callback) -> pl.Trainer:
    """The configured Lightning Trainer plus the fixed parts bcx's data design relies on."""
    checkpoint = ModelCheckpoint(
        dirpath=Path(cfg.run_dir) / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=cfg.checkpoint.every_n_steps,
    )
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    return instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=[*callbacks, checkpoint, *progress_bar(cfg)],
        default_root_dir=cfg.run_dir,
        # Batches are sampled endlessly from memory: there are no epochs to count or shard.
        check_val_every_n_epoch=None,
        use_distributed_sampler=False,
        enable_model_summary=False,
    )


def progress_bar(cfg: DictConfig) -> list[RichProgressBar]:
    return [RichProgressBar()] if cfg.trainer.enable_progress_bar else []


def save_results(
    cfg: DictConfig,
    metrics: dict[str, float],
    timing: dict[str, float],
    policy: Policy,
    val: Demonstrations,
) -> None:
    """metrics.json (+ the optional figure) in the run directory, and the terminal table."""
    run_dir = Path(cfg.run_dir)
    if cfg.figure.action_samples:
        choice = cfg.policy._target_.split(".")[-2]
        action_samples(policy, val, run_dir / "action_samples.png", title=choice)
    config = OmegaConf.to_container(cfg, resolve=True)
    path = write_metrics(run_dir, metrics, run=timing, config=config)
    print_table(metrics, title=f"bcx: {cfg.env.id}, {cfg.data.episodes} expert episodes")
    log.info("metrics written to %s", path)


def close_loggers(trainer: pl.Trainer, metrics: dict[str, float]) -> None:
    """Give wandb the run's final metrics as its summary and end its run cleanly."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(metrics)
            logger.experiment.finish()


def final_metrics(trainer: pl.Trainer, shift: ShiftCallback) -> dict[str, float]:
    """The last logged value of every metric, as plain floats."""
    logged: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return {**logged, **shift.latest}


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    try:
        return run(cfg)
    except BCXError as error:
        print(f"bcx: error: {error}", file=sys.stderr)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra marks this job failed and still runs the sweep's other jobs
        sys.exit(2)


if __name__ == "__main__":
    main()
