"""The pipeline: one experiment from a composed config to its metrics, plain Python (no Hydra app).

``run(cfg)`` checks the config and folders, builds the run's parts (``bcx.builders``), gathers the
demonstrations, fits every mitigation round (``bcx.rounds.RoundFitter``) and writes the results.
The ``bcx`` command (``bcx.train``) and the Python API (``bcx.api``) both call it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bcx.builders import (
    build_expert,
    build_head,
    build_lr_schedule,
    build_shift_callback,
    camera_arguments,
    check_learner_inputs,
    learner_image_keys,
    make_envs,
    new_module,
)
from bcx.config import collection_notice, validate
from bcx.data import store
from bcx.data.collector import Collector
from bcx.data.demos import Demonstrations
from bcx.data.minari import check_recorded_on, read_metadata, read_minari
from bcx.errors import BCXError, Stopped
from bcx.io import unwritable
from bcx.measure.shift import ShiftCallback
from bcx.mitigations.base import Mitigation
from bcx.results.loggers import build_logger, check_run_dir, finish_loggers, held_run_dir, log_video
from bcx.results.save import save_results
from bcx.results.summary import FAILED_FILE
from bcx.results.video import check_can_record, record_episode
from bcx.rounds import RoundFitter, RoundStore
from bcx.signals import StopSignals
from bcx.types import STATE

log = logging.getLogger("bcx")


def run(cfg: DictConfig, signals: StopSignals | None = None) -> dict[str, float]:
    """One experiment; returns the final metrics (also written to ``<run_dir>/metrics.json``).

    Paths in ``cfg`` are taken as given (relative ones against the working folder; the ``bcx``
    command makes them absolute first, ``launch_paths``). signals: the stop signals main()
    listens for; with them a fit a signal stops saves its mid-fit checkpoint first
    (``bcx.signals.StopSignals``)."""
    validate(cfg)
    check_folders(cfg)  # before any work: writable, and never another run's folder
    if cfg.rollout.video:
        check_can_record(cfg.env)  # an env that cannot render fails now, not after training
    started = time.perf_counter()
    envs = make_envs(cfg.env, cfg.rollout.num_envs, images=bool(learner_image_keys(cfg)))
    head = build_head(cfg, envs[0])
    check_learner_inputs(cfg, envs[0])
    build_lr_schedule(cfg)  # a bad schedule setting fails now, before any work
    expert = build_expert(cfg, envs[0])
    mitigation: Mitigation = instantiate(cfg.mitigation)(env=envs[0])
    collector = Collector(
        expert,
        envs,
        first_seed=cfg.data.seed,
        progress=cfg.trainer.enable_progress_bar,
        horizon=cfg.obs.horizon,
    )
    # Claimed once all that can reject the config has, so a refused run leaves no folder behind,
    # and before any collection: this process alone writes its run folder and resume store.
    with held_run_dir(cfg.run_dir), RoundStore(cfg.resume_dir, run_key(cfg)).held() as rounds:
        demos = load_demonstrations(cfg, mitigation, collector)
        mitigation.check_budget(len(demos))
        train, val = demos.split(cfg.data.val_episodes)
        train = mitigation.training_data(train, collector)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        shift = build_shift_callback(cfg, envs, expert, val, train)
        logger = build_logger(cfg)
        fit = RoundFitter(
            cfg, logger, shift, lambda data: new_module(cfg, envs[0], data, head), rounds, signals
        )
        module, trainer, history = fit.rounds(mitigation, collector, train, val)
        metrics = final_metrics(trainer, shift)
        if trainer.is_global_zero:
            timing = {
                "steps": trainer.global_step,
                "rounds": len(history),
                "wall_time_s": time.perf_counter() - started,
                "train_time_s": fit.seconds - shift.seconds,
                "rollout_time_s": shift.seconds,
                "rollout_train_states_s": shift.train_states_seconds,
                "collect_time_s": collector.seconds,
            }
            save_results(cfg, metrics, timing, module.policy, val, history, shift.curve)
            if cfg.rollout.video:
                policy_fn = module.policy.numpy_fn(cfg.rollout.deterministic)
                path = Path(cfg.run_dir) / "videos" / "rollout.mp4"
                video = record_episode(
                    policy_fn,
                    cfg.env,
                    cfg.rollout.seed,
                    path,
                    cameras=camera_arguments(cfg.env) if learner_image_keys(cfg) else None,
                    horizon=cfg.obs.horizon,
                )
                log_video(trainer.loggers, video, step=trainer.global_step)
            (Path(cfg.run_dir) / FAILED_FILE).unlink(missing_ok=True)  # an earlier try's, if any
        rounds.clear()  # only now: a run killed before its results were written still resumes
    finish_loggers(trainer.loggers, metrics)
    return metrics


def check_folders(cfg: DictConfig) -> None:
    """BCXError naming the key unless the run folder (``check_run_dir``) and resume_dir are
    folders bcx can write (or create): checked before any work, so no collection or training is
    lost to them later. data.cache_dir must be a folder (or one bcx can create), but bcx need
    not write it: one it may only read (a shared, prepared cache) still serves the
    demonstrations in it, with a warning that new ones are not cached."""
    check_run_dir(cfg.run_dir)
    problem = unwritable(cfg.resume_dir)
    if problem is not None:
        raise BCXError(
            f"resume_dir={cfg.resume_dir} is not a folder bcx can write ({problem}); it keeps "
            "every run's mid-fit checkpoint: choose resume_dir=<a writable folder>."
        )
    cache = cfg.data.cache_dir
    problem = unwritable(cache) if cfg.data.source == "collect" else None
    if problem is not None and not Path(cache).is_dir():
        raise BCXError(
            f"data.cache_dir={cache} is not a folder bcx can create or read ({problem}); choose "
            "data.cache_dir=<folder>."
        )
    if problem is not None:
        log.warning(
            "data.cache_dir=%s cannot be written (%s): demonstrations cached there are reused, "
            "new ones are collected for this run only",
            cache,
            problem,
        )


# Keys that say where a run keeps its files, or what it shows besides its metrics, never what its
# metrics are: changing one (the demo cache moved, the progress bar on for a rerun) must not
# orphan a killed run's checkpoint. hydra: Hydra's own settings, when composed with them.
NOT_IN_KEY = (
    "hydra",
    "run_dir",
    "logger",
    "resume",
    "resume_dir",
    "optimized_metric",
    "data.cache_dir",
    "trainer.enable_progress_bar",
    "rollout.video",
    "figure",
)


def run_key(cfg: DictConfig) -> dict[str, Any]:
    """Everything in the config that decides a run's results: all but ``NOT_IN_KEY``, resolved.
    (The ``RoundStore`` adds bcx's code version.)"""
    skip = {dotted for dotted in NOT_IN_KEY if "." not in dotted}
    key = {
        k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_dict(cfg[k]) else cfg[k]
        for k in cfg
        if k not in skip
    }
    for dotted in NOT_IN_KEY:
        *parents, leaf = dotted.split(".")
        node = key
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    return key


# Config keys that name a file or folder: the ``bcx`` command makes a relative one absolute
# against the folder it was launched from (``launch_paths``).
PATH_KEYS = (
    "run_dir",
    "resume_dir",
    "data.cache_dir",
    "data.path",
    "expert.path",
    "expert.zoo_dir",
)


def launch_paths(cfg: DictConfig, launch_dir: str | Path) -> None:
    """Make the relative paths of ``PATH_KEYS`` in ``cfg`` absolute against ``launch_dir``, in
    place, so that they mean the folder bcx was launched from even where Hydra runs the job in
    its run folder (``hydra.job.chdir=true``): one demo cache and resume store for every run of
    a command, however launched."""
    for dotted in PATH_KEYS:
        value = OmegaConf.select(cfg, dotted, default=None)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            OmegaConf.update(cfg, dotted, str(Path(launch_dir) / value), merge=False)


def collect(cfg: DictConfig, mitigation: Mitigation, collector: Collector) -> Demonstrations:
    """The initial episodes from the expert, said first: a large data.episodes can take long."""
    log.info("%s", collection_notice(cfg))
    return mitigation.demonstrations(collector, cfg.data.episodes)


def load_demonstrations(
    cfg: DictConfig, mitigation: Mitigation, collector: Collector
) -> Demonstrations:
    """The initial episodes: read from a Minari dataset (data.source=minari), or collected on
    seeds data.seed + i, from the cache when an identical set exists."""
    if cfg.data.source == "minari":
        return read_dataset(cfg, collector.envs[0])
    first = cfg.data.seed  # read once: OmegaConf access is slow for a million episodes
    seeds = [first + i for i in range(cfg.data.episodes)]
    images = image_shapes(collector.envs[0].observation_space)
    key = {
        "env": OmegaConf.to_container(cfg.env, resolve=True),
        "expert": OmegaConf.to_container(cfg.expert, resolve=True),
        "seeds": seeds,
        # A state learner's env renders nothing: its data has no images, nor the camera's state.
        **({"images": images} if images else {}),
        **mitigation.collection_key(),
    }
    stem = f"{cfg.env.id.replace('/', '_')}-{len(seeds)}ep"
    path = store.cache_path(cfg.data.cache_dir, key, stem)
    # The cache is written in one piece once every episode is in: a stop leaves none of it.
    interrupted = "during demonstration collection; nothing was cached, rerun to collect again"
    try:
        demos, reused = store.load_or_create(path, lambda: collect(cfg, mitigation, collector))
    except KeyboardInterrupt:
        raise Stopped("interrupted", 130, f" {interrupted}") from None
    except Stopped as stop:
        raise stop.during(f" {interrupted}") from None
    check_cached_images(demos, images, path)
    collector.next_seed = cfg.data.seed + cfg.data.episodes
    log.info(
        "%s %d expert episodes (%d pairs): %s",
        "reused" if reused else "collected",
        demos.num_episodes,
        len(demos),
        path,
    )
    return demos


def image_shapes(space: gym.Space) -> dict[str, list[int]]:
    """The images an env observes, by key: their (H, W, C); none for a Box env."""
    if not isinstance(space, gym.spaces.Dict):
        return {}
    return {key: list(sub.shape) for key, sub in space.spaces.items() if key != STATE}


def check_cached_images(demos: Demonstrations, images: dict[str, list[int]], path: Path) -> None:
    """BCXError, before any training, when the cached images are not the ones the env renders
    (a file copied in from another config: the cache key tells every config's files apart)."""
    cached = {key: list(frames.shape[1:]) for key, frames in demos.frames.items()}
    if cached != images:
        raise BCXError(
            f"the demo cache file {path} holds images {cached or 'none'}, but env.pixels makes "
            f"the env render {images or 'none'}; delete that file (it is collected again) or set "
            "data.cache_dir to another folder."
        )


def read_dataset(cfg: DictConfig, env: gym.Env) -> Demonstrations:
    """The first data.episodes episodes of the Minari dataset at data.path, which must have been
    recorded on env (its env_spec id and its observation and action widths)."""
    if not cfg.data.path:
        raise BCXError(
            "data.source=minari needs data.path: a Minari dataset folder or its main_data.hdf5."
        )
    if image_shapes(env.observation_space):
        raise BCXError(
            "data.source=minari reads states and actions only, but obs.keys="
            f"{list(cfg.obs['keys'])} shows the learner images; use data.source=collect, or "
            "obs.keys=[state]."
        )
    demos = read_minari(cfg.data.path)
    check_recorded_on(
        demos,
        read_metadata(cfg.data.path),
        env_id=cfg.env.id,
        observation_space=env.observation_space,
        action_space=env.action_space,
        path=cfg.data.path,
    )
    if demos.num_episodes < cfg.data.episodes:
        raise BCXError(
            f"data.episodes={cfg.data.episodes} but the Minari dataset {cfg.data.path} holds "
            f"{demos.num_episodes} episodes; lower data.episodes."
        )
    log.info("read %d episodes from %s", cfg.data.episodes, cfg.data.path)
    return demos.episodes(0, cfg.data.episodes)


def final_metrics(trainer: pl.Trainer, shift: ShiftCallback) -> dict[str, float]:
    """The last logged value of every metric, as plain floats."""
    logged: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return {**logged, **shift.latest}
