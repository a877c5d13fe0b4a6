"""The Hydra app: build env, expert, data and policy from the config, fit, measure, summarize.

This is the only module that wires the families together; each of them knows nothing of Hydra.
Run it as ``bcx <overrides>`` or ``python -m bcx <overrides>``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import gymnasium as gym
import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.utilities.exceptions import SIGTERMException

from bcx.callbacks.shift import ShiftCallback
from bcx.command_line import check_command_line
from bcx.conf_dir import CONF_DIR
from bcx.config import collection_notice, validate
from bcx.data import store
from bcx.data.collector import Collector
from bcx.data.datamodule import DemoDataModule
from bcx.data.demos import Demonstrations
from bcx.data.minari import check_recorded_on, read_metadata, read_minari
from bcx.envs import learner_features
from bcx.errors import NO_ROOM_EXIT, BCXError, Stopped, exit_with, no_room
from bcx.experts.base import Expert, check_matches_env
from bcx.figures import action_samples, compounding_error
from bcx.heads import PolicyHead
from bcx.io import atomic_write_json, unwritable
from bcx.loggers import (
    build_logger,
    check_run_dir,
    finish_loggers,
    held_run_dir,
    log_video,
)
from bcx.mitigations.base import Mitigation
from bcx.module import BCModule
from bcx.policy import Policy
from bcx.progress import shown
from bcx.provenance import provenance
from bcx.quiet import quiet
from bcx.rounds import RoundStore, SaveProgress
from bcx.signals import StopSignals
from bcx.summary import FAILED_FILE, print_table, reading, write_metrics
from bcx.video import check_can_record, record_episode

log = logging.getLogger("bcx")
# What a fit that Ctrl-C stopped kept, and what rerunning does.
RERUN_FIT = (
    "the last mid-fit checkpoint (every checkpoint.every_n_steps steps) is kept: rerun the same "
    "command to resume from it"
)


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
    envs = make_envs(cfg.env, cfg.rollout.num_envs)
    head = build_head(cfg, envs[0])
    expert = build_expert(cfg, envs[0])
    mitigation: Mitigation = instantiate(cfg.mitigation)(env=envs[0])
    collector = Collector(
        expert, envs, first_seed=cfg.data.seed, progress=cfg.trainer.enable_progress_bar
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
                video = record_episode(policy_fn, cfg.env, cfg.rollout.seed, path)
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


class RoundFitter:
    """Fits the learner once per mitigation round. Keeps what a rerun of the same command needs
    in a ``RoundStore``: each finished round of a multi-round run with the rounds' metrics so
    far, and the latest mid-fit checkpoint of every run; with ``resume=true`` a rerun continues
    from them. The caller clears the store once the run's results are written."""

    def __init__(
        self,
        cfg: DictConfig,
        logger,
        shift: ShiftCallback,
        new_module,
        store: RoundStore,
        signals: StopSignals | None = None,
    ) -> None:
        self.cfg, self.logger, self.shift, self.new_module = cfg, logger, shift, new_module
        self.store, self.signals = store, signals
        self.seconds = 0.0

    def rounds(self, mitigation: Mitigation, collector: Collector, train, val):
        """(module, last trainer, per-round metrics) after all of the mitigation's rounds; a
        resumed run's metrics include the saved rounds'."""
        cfg = self.cfg
        saved = self.store.load() if cfg.resume and mitigation.rounds > 1 else None
        first, checkpoint, module, history = 0, None, self.new_module(train), []
        if saved is not None:
            log.info("resuming after round %d from %s", saved.completed_rounds, self.store.folder)
            first, train, checkpoint = saved.completed_rounds, saved.train, saved.checkpoint
            collector.next_seed = saved.next_seed
            module = self.new_module(train)
            # The learner gathers the next round's data before fit() restores the checkpoint.
            module.load_state_dict(torch.load(checkpoint, weights_only=False)["state_dict"])
            history = list(saved.history)
        trainer = None
        for index in range(first, mitigation.rounds):
            gathered_before = dict(collector.timing)
            if index > 0:
                learner = module.policy.numpy_fn()
                gathered = mitigation.next_round(index, train, val, learner, collector)
                if gathered is None:
                    log.info("expert-label budget spent after %d rounds", index)
                    break
                train = gathered
                if not mitigation.warm_start:
                    module, checkpoint = self.new_module(train), None
            fit_before, measured_before = self.seconds, self.shift.seconds
            start = self._start(index, checkpoint)
            trainer = self.fit(module, train, val, start, index, mitigation.warm_start)
            timing = {
                "time/rollout_s": collector.timing["rollout"] - gathered_before["rollout"],
                "time/label_s": collector.timing["label"] - gathered_before["label"],
                "time/train_s": (self.seconds - fit_before)
                - (self.shift.seconds - measured_before),
            }
            history.append(
                {"round": index, "data/pairs": len(train), **timing, **self.shift.latest}
            )
            if index + 1 < mitigation.rounds:
                checkpoint = self.store.save(
                    trainer, index + 1, train, collector.next_seed, history
                )
        if trainer is None:  # resumed after the budget's last round: measure that learner
            trainer = build_trainer(cfg, self.logger, first)
            self.shift.expert_labels = len(train) + len(val)
            self.shift.set_training_data(train)
            self.shift.latest = self.shift.measure(module)
        return module, trainer, history

    def _start(self, index: int, checkpoint: Path | None) -> Path | None:
        """Where round ``index``'s fit starts: a killed run's mid-fit checkpoint of this round
        (with ``resume=true``), else ``checkpoint`` (the previous round's, or None)."""
        killed = self.store.fit_checkpoint(index) if self.cfg.resume else None
        if killed is not None:
            log.info("resuming round %d's fit from %s", index, killed)
        return killed or checkpoint

    def fit(self, module: BCModule, train, val, checkpoint, index: int, warm: bool) -> pl.Trainer:
        """Round ``index``'s Lightning fit, to (index + 1) * trainer.max_steps global steps when
        it continues the previous round's (``warm``), else to trainer.max_steps afresh."""
        cfg = self.cfg
        round_count = index + 1 if warm else 1
        self.shift.expert_labels = len(train) + len(val)
        self.shift.set_training_data(train)
        progress = SaveProgress(
            self.store, index, cfg.checkpoint.every_n_steps, self.signals, resume=cfg.resume
        )
        trainer = build_trainer(cfg, self.logger, round_count, self.shift, progress)
        data = DemoDataModule(
            train,
            val,
            batch_size=cfg.data.batch_size,
            seed=cfg.seed,
            first_step=(round_count - 1) * cfg.trainer.max_steps,
        )
        started = time.perf_counter()
        with self.signals.fitting() if self.signals else nullcontext():
            try:
                # bcx wrote the checkpoint itself: it holds optimizer and loop state, not only
                # weights.
                trainer.fit(module, datamodule=data, ckpt_path=checkpoint, weights_only=False)
            except SystemExit as exiting:
                # Lightning ends a fit Ctrl-C interrupted with exit(1) raised while it handles the
                # KeyboardInterrupt, its shutdown note hidden with its other INFO lines
                # (bcx.quiet): say what happened and what was kept. Any other exit (a launcher's
                # handler that requeues its job) goes on as it is.
                if not isinstance(exiting.__context__, KeyboardInterrupt):
                    raise
                raise Stopped(
                    "interrupted", 130, f" at step {trainer.global_step}; {RERUN_FIT}"
                ) from None
        self.seconds += time.perf_counter() - started
        return trainer


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


def new_module(cfg: DictConfig, env: gym.Env, train: Demonstrations, head) -> BCModule:
    return BCModule(build_policy(cfg, env, train, head), **cfg.optim)


def make_envs(env_cfg: DictConfig, count: int) -> list[gym.Env]:
    """``count`` independent instances of the configured env (once ``env.module``, a user's
    module that registers the env, is imported)."""
    from bcx.envs import import_env_module  # registers bcx/* env ids

    import_env_module(env_cfg)

    return [gym.make(env_cfg.id, **env_cfg.kwargs) for _ in range(count)]


def build_expert(cfg: DictConfig, env: gym.Env) -> Expert:
    """The configured expert, checked against the env's spaces before any work."""
    name = cfg.expert._target_.split(".")[-2]  # the module stem, which is the choice name
    expert = instantiate(cfg.expert)(env=env)
    check_matches_env(expert, env, name)
    return expert


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
    key = {
        "env": OmegaConf.to_container(cfg.env, resolve=True),
        "expert": OmegaConf.to_container(cfg.expert, resolve=True),
        "seeds": seeds,
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
    collector.next_seed = cfg.data.seed + cfg.data.episodes
    log.info(
        "%s %d expert episodes (%d pairs): %s",
        "reused" if reused else "collected",
        demos.num_episodes,
        len(demos),
        path,
    )
    return demos


def read_dataset(cfg: DictConfig, env: gym.Env) -> Demonstrations:
    """The first data.episodes episodes of the Minari dataset at data.path, which must have been
    recorded on env (its env_spec id and its observation and action widths)."""
    if not cfg.data.path:
        raise BCXError(
            "data.source=minari needs data.path: a Minari dataset folder or its main_data.hdf5."
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
    """Trunk + head sized by the env, observation statistics from the training data (of the
    features a learner sees)."""
    space, seen = env.action_space, train.obs[:, : learner_features(env)]
    return Policy(
        obs_mean=seen.mean(axis=0),
        obs_std=seen.std(axis=0),
        action_low=np.asarray(space.low, dtype=np.float32),
        action_high=np.asarray(space.high, dtype=np.float32),
        hidden=list(cfg.model.hidden),
        activation=cfg.model.activation,
        obs_std_min=cfg.model.obs_std_min,
        head=head,
    )


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


def save_results(
    cfg: DictConfig,
    metrics: dict[str, float],
    timing: dict[str, float],
    policy: Policy,
    val: Demonstrations,
    history: list[dict[str, float]],
    curve: dict[str, list[float]],
) -> None:
    """metrics.json and the figures in the run directory, and the terminal table."""
    run_dir = Path(cfg.run_dir)
    if cfg.figure.action_samples:
        choice = cfg.policy._target_.split(".")[-2]
        action_samples(policy, val, run_dir / "action_samples.png", title=choice)
    if curve:
        title = f"{cfg.env.id}, mitigation={cfg.mitigation._target_.split('.')[-2]}"
        compounding_error(curve, run_dir / "compounding_error.png", title=title)
    config = OmegaConf.to_container(cfg, resolve=True)
    path = write_metrics(
        run_dir,
        metrics,
        run=timing,
        provenance=provenance(),
        rounds=history,
        curves={"compounding_error": curve},
        config=config,
    )
    unit = "nats" if policy.head.has_density else f"units of {type(policy.head).__name__}'s loss"
    print_table(
        metrics,
        title=f"bcx: {cfg.env.id}, {cfg.data.episodes} expert episodes",
        lines=reading(metrics, unit=unit),
    )
    log.info("metrics written to %s", path)


def final_metrics(trainer: pl.Trainer, shift: ShiftCallback) -> dict[str, float]:
    """The last logged value of every metric, as plain floats."""
    logged: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return {**logged, **shift.latest}


def cli() -> None:
    """The ``bcx`` command: the command line checked first (Hydra's own config errors and bad
    values end with one line and exit 2 before Hydra creates or rewrites a run folder), then the
    Hydra app, holding the run folder the command names (``named_run_dir``)."""
    try:
        check_command_line(sys.argv[1:], CONF_DIR, "train")
        folder = named_run_dir(sys.argv[1:])
        # Held from before Hydra writes the folder's .hydra/ and train.log: of two runs given
        # the same folder, the second stops here, before it has touched the first's files.
        with held_run_dir(folder) if folder is not None else nullcontext():
            main()
    except BCXError as error:
        exit_with("bcx", error)


def named_run_dir(argv: list[str]) -> str | None:
    """The folder a single run's command line names with ``hydra.run.dir=<folder>`` (none with
    an interpolation, such as the default's ``${now:...}``, which Hydra resolves anew), or None;
    None for any command with an option (``-m``, ``--cfg``, ...)."""
    if any(arg.startswith("-") for arg in argv):
        return None
    for override in OverridesParser.create().parse_overrides(argv):
        value = override.value()
        if override.key_or_group == "hydra.run.dir" and isinstance(value, str):
            return None if "${" in value else value
    return None


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float] | float | None:
    """The final metrics; a sweeper that optimizes (``optimized_metric``) gets that one value.

    Bad input ends a run with ``bcx: error: ...`` and exit 2; a signal or Ctrl-C with one line
    saying what was kept and exit 128 + the signal's number. In a multirun a failed job, whatever
    the exception, leaves failed.json (its error and traceback) and the sweep goes on; the sweep
    ends non-zero (``bcx.sweep_progress``)."""
    quiet()
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    launch_paths(cfg, HydraConfig.get().runtime.cwd)
    try:
        with StopSignals() as signals:
            return sweep_value(cfg, run(cfg, signals))
    except (Stopped, KeyboardInterrupt, SIGTERMException) as stop:
        # Ctrl-C outside a fit (Lightning handles it in one); SIGTERM in a fit where bcx could
        # not take it over (a launcher's own handler), which Lightning ends with exit 0.
        if not isinstance(stop, Stopped):
            cause = "interrupted" if isinstance(stop, KeyboardInterrupt) else "stopped by SIGTERM"
            stop = Stopped(cause, 130 if isinstance(stop, KeyboardInterrupt) else 143)
        print(f"bcx: {stop}", file=sys.stderr)
        if sweeping:
            record_failure(cfg, stop)
        sys.exit(stop.code)  # the whole sweep stops, as one run does
    except BCXError as error:
        if not sweeping:
            exit_with("bcx", error)
        print(f"bcx: error: {error}", file=sys.stderr)
        failure: Exception = error
    except Exception as error:
        if (line := no_room(error, cfg.run_dir)) is not None:
            print(f"bcx: {line}", file=sys.stderr)
            if sweeping:
                record_failure(cfg, error)
            sys.exit(NO_ROOM_EXIT)  # the sweep's other jobs would need the same room
        if not sweeping:
            raise
        log.exception("sweep job failed: %s: %s", type(error).__name__, error)
        failure = error
    # A failed sweep job: the sweep goes on to its other jobs and its report, which list this
    # one as failed with its error, and ends with a non-zero exit.
    record_failure(cfg, failure)
    return sweep_value(cfg, {})


def record_failure(cfg: DictConfig, error: BaseException) -> None:
    """failed.json in the run folder: the error's message (with its type, for an unexpected
    one) and its traceback. A disk too full to hold it costs only the file."""
    expected = isinstance(error, BCXError | Stopped)
    try:
        atomic_write_json(
            Path(cfg.run_dir) / FAILED_FILE,
            {
                "error": str(error) if expected else f"{type(error).__name__}: {error}",
                "traceback": "".join(traceback.format_exception(error)),
            },
        )
    except OSError as unwritten:
        log.warning("could not write %s: %s", FAILED_FILE, unwritten)


def sweep_value(cfg: DictConfig, metrics: dict[str, float]) -> dict[str, float] | float | None:
    """``metrics``, or just ``metrics[cfg.optimized_metric]`` when a sweeper optimizes it. None
    for a failed job or a NaN value: the Optuna sweeper records a failed trial and goes on,
    where a NaN would abort the whole search (optuna 2.10 rejects it; hydra issue #2237)."""
    name = cfg.get("optimized_metric")
    if not name:
        return metrics
    if metrics and name not in metrics:
        raise BCXError(
            f"optimized_metric={name} is not a metric of this run; it logs: "
            f"{', '.join(sorted(metrics))}."
        )
    value = metrics.get(name, math.nan)
    return None if math.isnan(value) else value


if __name__ == "__main__":
    cli()
