"""Checks on the composed config, before any work: a bad value costs nothing and overwrites nothing.

``validate`` is the one entry point. It first checks every key against the schema
(``bcx.schema``: known keys, types, ranges), then the relations between keys and with the
machine: held-out episodes, data source, registered env, disjoint seeds, sizes the machine holds.
"""

from __future__ import annotations

import os

import gymnasium as gym
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from bcx import schema
from bcx.errors import BCXError

# rollout.num_envs up to this is always accepted, whatever the episode counts (the default).
ENVS_ALWAYS_ALLOWED = 8
# Training memory per trunk weight (fp32 weight, gradient and Adam's two moments) and per hidden
# unit of a batch row (fp32 activation, its gradient and the activation function's output).
BYTES_PER_WEIGHT = 16
BYTES_PER_ACTIVATION = 12


def _refuse_chdir(cfg: DictConfig) -> None:
    """hydra.job.chdir=true would run the job inside its run folder and silently move every
    relative path (the shared demo cache, resume_dir) into it: refused."""
    chdir = OmegaConf.select(cfg, "hydra.job.chdir")  # composed with the Hydra config
    if chdir is None and HydraConfig.initialized():  # inside the Hydra app
        chdir = HydraConfig.get().job.chdir
    if chdir:
        raise BCXError(
            "hydra.job.chdir must be false: bcx's relative paths (data.cache_dir, resume_dir, "
            "data.path, expert.path) mean the folder bcx is launched from, and the run folder is "
            "run_dir; give absolute paths if the job must run elsewhere."
        )


def validate(cfg: DictConfig) -> None:
    """Raise BCXError naming the first bad key, what it must be, and what it got."""
    schema.check(cfg)
    _refuse_chdir(cfg)
    if cfg.data.val_episodes >= cfg.data.episodes:
        raise BCXError(
            f"data.val_episodes must be smaller than data.episodes, leaving at least one training "
            f"episode (got data.val_episodes={cfg.data.val_episodes}, "
            f"data.episodes={cfg.data.episodes})."
        )
    if cfg.data.source == "minari" and cfg.mitigation._target_.split(".")[-2] == "dart":
        raise BCXError(
            "mitigation=dart collects its own noisy demonstrations, so it cannot read "
            "data.source=minari; use data.source=collect."
        )
    _require_registered_env(cfg.env.id)
    _require_disjoint_seeds(cfg)
    _require_sizes_fit(cfg)


def parallel_episodes(cfg: DictConfig) -> int:
    """The most episodes any phase of the run steps at once: the initial collection, a
    measurement, or a mitigation's later collection (at most all of it in one round)."""
    later = _mitigation_collection_episodes(cfg)
    return max(cfg.data.episodes, cfg.rollout.episodes, later)


def _require_sizes_fit(cfg: DictConfig) -> None:
    """No size the run cannot use or the machine cannot hold: more envs than it steps at once,
    a model and batch beyond memory. (A batch may exceed the training pairs: batches are drawn
    with replacement, and bcx's own defaults do on small data, e.g. 256 on reacher's 3 episodes.)"""
    parallel = parallel_episodes(cfg)
    allowed = max(parallel, ENVS_ALWAYS_ALLOWED)
    if cfg.rollout.num_envs > allowed:
        default = f" ({ENVS_ALWAYS_ALLOWED} is always accepted)" if allowed > parallel else ""
        raise BCXError(
            f"rollout.num_envs={cfg.rollout.num_envs} is more envs than this run steps at once: "
            f"at most {parallel} episodes together (data.episodes={cfg.data.episodes}, "
            f"rollout.episodes={cfg.rollout.episodes}); choose rollout.num_envs <= {allowed}"
            f"{default}."
        )
    _require_fits_in_memory(cfg)


def _require_registered_env(env_id: str) -> None:
    """The env id is in gymnasium's registry (checked without building the env)."""
    import bcx.envs  # noqa: F401  (registers bcx/* env ids)

    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise BCXError(f"env.id={env_id} is not a registered gymnasium environment: {err}") from err


def _require_fits_in_memory(cfg: DictConfig) -> None:
    """The trunk's weights, optimizer state and one batch's activations within physical memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: nothing to compare with
        return
    widths = list(cfg.model.hidden)
    weights = sum(a * b for a, b in zip(widths, widths[1:], strict=False))
    need = BYTES_PER_WEIGHT * weights + BYTES_PER_ACTIVATION * cfg.data.batch_size * sum(widths)
    if need > memory:
        raise BCXError(
            f"model.hidden={widths} with data.batch_size={cfg.data.batch_size} needs about "
            f"{need / 2**30:.0f} GiB to train (weights, optimizer state, a batch's activations), "
            f"more than this machine's {memory / 2**30:.0f} GiB; choose narrower layers or a "
            "smaller batch."
        )


def _require_disjoint_seeds(cfg: DictConfig) -> None:
    """Evaluation seeds apart from every seed collection may take: the initial demonstrations'
    and those the mitigation's later rounds go on to take (``Mitigation.collection_episodes``)."""
    later = _mitigation_collection_episodes(cfg)
    collect = range(cfg.data.seed, cfg.data.seed + cfg.data.episodes + later)
    evaluate = range(cfg.rollout.seed, cfg.rollout.seed + cfg.rollout.episodes)
    if collect.start < evaluate.stop and evaluate.start < collect.stop:
        name = cfg.mitigation._target_.split(".")[-2]
        taken = (
            f"data.seed + i for the data.episodes={cfg.data.episodes} initial episodes and the "
            f"{later} that mitigation={name}'s later rounds may collect"
            if later
            else f"data.seed + i, i < data.episodes={cfg.data.episodes}"
        )
        choices = [f"rollout.seed >= {collect.stop}", f"data.seed >= {evaluate.stop}"]
        if evaluate.start - len(collect) >= 0:
            choices.append(f"data.seed <= {evaluate.start - len(collect)}")
        raise BCXError(
            f"rollout.seed must keep evaluation seeds [{evaluate.start}, {evaluate.stop}) apart "
            f"from collection seeds [{collect.start}, {collect.stop}) ({taken}): choose "
            f"{', '.join(choices[:-1])} or {choices[-1]}."
        )


def _mitigation_collection_episodes(cfg: DictConfig) -> int:
    """Episodes the configured mitigation may collect after the initial demonstrations."""
    mitigation = get_object(cfg.mitigation._target_)  # importable: the schema checked it
    count = getattr(mitigation, "collection_episodes", None)
    if count is None:
        return 0
    return count(cfg.mitigation, cfg.data.episodes - cfg.data.val_episodes)
