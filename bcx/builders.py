"""Builders, one per config group: the env, expert, head, policy, shift measurement and trainer a
run is made of, each sized or checked against the env before any work.

Used by the pipeline (``bcx.pipeline.run``), the round loop (``bcx.rounds.RoundFitter``), the
Python API (``bcx.api``) and the tools that build parts of a run without fitting one
(``bcx.tools.bench``, ``bcx.tools.export``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytorch_lightning as pl
import torch
from gymnasium.wrappers import AddRenderObservation
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from bcx.data.demos import Demonstrations
from bcx.envs import learner_features
from bcx.errors import BCXError
from bcx.experts.base import Expert, check_matches_env
from bcx.heads import PolicyHead
from bcx.measure.shift import ShiftCallback
from bcx.model.module import BCModule, ScheduleFactory
from bcx.model.policy import Policy
from bcx.progress import shown
from bcx.types import STATE


def make_envs(env_cfg: DictConfig, count: int, images: bool = False) -> list[gym.Env]:
    """``count`` independent instances of the configured env (once ``env.module``, a user's
    module that registers the env, is imported). images: the learner sees camera images, so
    the env is made with its ``env.pixels`` arguments (its cameras): an env renders nothing a
    learner does not see."""
    from bcx.envs import import_env_module  # registers bcx/* env ids

    import_env_module(env_cfg)
    kwargs = dict(env_cfg.kwargs)
    if images:
        kwargs.update(camera_arguments(env_cfg))
    render = kwargs.pop("render", None)
    if render:
        return [rendered_env(env_cfg.id, kwargs, dict(render)) for _ in range(count)]
    return [gym.make(env_cfg.id, **kwargs) for _ in range(count)]


def rendered_env(env_id: str, kwargs: dict, size: dict) -> gym.Env:
    """An env that renders itself into its observation (``env.pixels.render``: a MuJoCo env's
    own camera, ``width`` x ``height``): a Dict of ``state`` and ``pixels``. Software EGL renders
    headless; it is set only here, where something renders."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    env = gym.make(env_id, render_mode="rgb_array", **size, **kwargs)
    return AddRenderObservation(env, render_only=False)


def camera_arguments(env_cfg: DictConfig) -> dict:
    """The env's ``env.pixels``: the gym.make arguments that give it cameras."""
    cameras = env_cfg.get("pixels")
    if not cameras:
        raise BCXError(
            f"obs.keys asks for camera images, but env {env_cfg.id} renders none (its config "
            "has no env.pixels); use obs.keys=[state], or an env with cameras (env=lane)."
        )
    return dict(cameras)


def learner_image_keys(cfg: DictConfig) -> tuple[str, ...]:
    """The camera images the learner sees (``obs.keys`` other than ``state``)."""
    return tuple(key for key in cfg.obs["keys"] if key != STATE)


def check_learner_inputs(cfg: DictConfig, env: gym.Env) -> None:
    """Every ``obs.keys`` entry is something the env observes, and the encoder takes what they
    give (an image encoder images, a state encoder none): BCXError naming them, before any
    work."""
    space = env.observation_space
    offered = list(space.spaces) if isinstance(space, gym.spaces.Dict) else [STATE]
    for key in cfg.obs["keys"]:
        if key not in offered:
            raise BCXError(
                f"obs.keys has {key!r}, which env {cfg.env.id} does not observe; allowed: "
                f"{', '.join(offered)}."
            )
    build_policy(cfg, env, None, build_head(cfg, env))  # the encoder refuses what it cannot take


def build_expert(cfg: DictConfig, env: gym.Env) -> Expert:
    """The configured expert, checked against the env's spaces before any work."""
    name = cfg.expert._target_.split(".")[-2]  # the module stem, which is the choice name
    expert = instantiate(cfg.expert)(env=env)
    check_matches_env(expert, env, name)
    return expert


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
    cfg: DictConfig, env: gym.Env, train: Demonstrations | None, head: Callable[..., PolicyHead]
) -> Policy:
    """Encoder, trunk and head sized by the env and what the learner sees (``obs.keys``),
    observation statistics from the training data (of the state features a learner reads;
    placeholders without ``train``)."""
    width = learner_features(env) if STATE in cfg.obs["keys"] else 0
    seen = train.obs[:, :width] if train is not None else np.zeros((1, width), np.float32)
    images = learner_image_keys(cfg)
    if len(images) > 1:
        raise BCXError(
            f"obs.keys may name one camera for the learner (got {', '.join(images)}); the others "
            "can still be recorded for augmentation."
        )
    image_key = images[0] if images else None
    space = env.action_space
    return Policy(
        obs_mean=seen.mean(axis=0),
        obs_std=seen.std(axis=0),
        action_low=np.asarray(space.low, dtype=np.float32),
        action_high=np.asarray(space.high, dtype=np.float32),
        hidden=list(cfg.model.hidden),
        activation=cfg.model.activation,
        obs_std_min=cfg.model.obs_std_min,
        encoder=instantiate(cfg.encoder),
        head=head,
        image_key=image_key,
        image_shape=env.observation_space[image_key].shape if image_key else None,
        horizon=cfg.obs.horizon,
    )


def new_module(cfg: DictConfig, env: gym.Env, train: Demonstrations, head) -> BCModule:
    """A fresh learner for one fit: the policy sized by env and train, trained with the
    configured optimizer and learning-rate schedule."""
    policy = build_policy(cfg, env, train, head)
    return BCModule(policy, optimizer=instantiate(cfg.optim), lr_schedule=build_lr_schedule(cfg))


def build_lr_schedule(cfg: DictConfig) -> ScheduleFactory | None:
    """The configured schedule over one fit of trainer.max_steps (None: a constant rate), tried
    on a throwaway optimizer so that a bad setting fails before any work."""
    if not cfg.get("lr_schedule"):
        return None
    schedule = partial(instantiate(cfg.lr_schedule), total_steps=cfg.trainer.max_steps)
    schedule(instantiate(cfg.optim)([torch.zeros(1, requires_grad=True)]))
    return schedule


def build_shift_callback(
    cfg: DictConfig,
    envs: list[gym.Env],
    expert: Expert,
    val: Demonstrations,
    train: Demonstrations,
) -> ShiftCallback:
    """The rollout measurement on evaluation seeds rollout.seed + i."""
    return ShiftCallback(
        envs=envs[: cfg.rollout.episodes],
        expert=expert,
        seeds=[cfg.rollout.seed + i for i in range(cfg.rollout.episodes)],
        every_n_steps=cfg.rollout.every_n_steps,
        held_out=val,
        training=train,
        deterministic=cfg.rollout.deterministic,
        progress=cfg.trainer.enable_progress_bar,
    )


def build_trainer(cfg: DictConfig, logger, round_count: int, *callbacks) -> pl.Trainer:
    """The configured Lightning Trainer, run to round_count * trainer.max_steps global steps,
    plus the fixed parts bcx's data design relies on."""
    checkpoint = ModelCheckpoint(
        dirpath=Path(cfg.run_dir) / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=cfg.checkpoint.every_n_steps,
    )
    bar = shown(cfg.trainer.enable_progress_bar)  # off a terminal no bar at all, not even tqdm
    return instantiate(
        cfg.trainer,
        max_steps=round_count * cfg.trainer.max_steps,
        logger=logger,
        callbacks=[*callbacks, checkpoint, *([RichProgressBar()] if bar else [])],
        enable_progress_bar=bar,
        default_root_dir=cfg.run_dir,
        # Batches are sampled endlessly from memory: there are no epochs to count or shard.
        check_val_every_n_epoch=None,
        use_distributed_sampler=False,
        enable_model_summary=False,
    )
