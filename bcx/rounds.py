"""The round loop and what lets it survive a kill: ``RoundFitter`` fits the learner once per
mitigation round; the ``RoundStore`` keyed by a run's config holds what rerunning it needs.

Multi-round runs (DAgger, fitted DART): after every fit but the last the store holds the Lightning
checkpoint (weights, optimizer, global step), the data that fit trained on and the next
collection seed; rerunning the same command continues with the next round, and a round
interrupted while gathering is regathered from the same seeds, so its data come out the same.

Every run, single fit or not: while a fit trains, ``SaveProgress`` keeps its latest mid-fit
checkpoint here (``fit.ckpt`` and ``fit.json``, which names the round). Rerunning continues that
fit from it. Once a run has written its results it clears its store, so running the finished
command again trains again from round 0.

The store's key is the config together with bcx's code version (``code_version``), so rounds
trained by another bcx are never resumed: a changed bcx trains afresh. While a run uses its store
it holds the store's lock (``RoundStore.held``): a second process running the same config with
the same ``resume_dir`` at the same time is refused before any work, not left to overwrite the
first one's checkpoints.

A run stopped by a signal (``bcx.signals.StopSignals``) during a fit saves the mid-fit checkpoint
here at the end of the current step (``SaveProgress``) and exits with 128 + the signal's number.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from bcx.builders import build_trainer, learner_image_keys
from bcx.data import store
from bcx.data.collector import Collector
from bcx.data.datamodule import DemoDataModule
from bcx.data.demos import Demonstrations
from bcx.errors import BCXError, Stopped
from bcx.io import Held, atomic_write, atomic_write_json, describe, locked, readable_checkpoint
from bcx.measure.shift import ShiftCallback
from bcx.mitigations.base import Mitigation
from bcx.model.module import BCModule
from bcx.signals import StopSignals

log = logging.getLogger("bcx")

STATE = "state.json"
FIT_CHECKPOINT, FIT_STATE = "fit.ckpt", "fit.json"


@cache
def code_version() -> str:
    """``<bcx's version>+<hash of its package files>``, e.g. ``0.1.0+3f2a9c01d4e5b6a7``.

    A hash of every file in the bcx package (its Python source and the zoo experts' weights;
    neither caches nor hidden files) rather than the git commit: it works the same for an
    installed bcx and a checkout, sees uncommitted edits, and needs no git. Any change to bcx,
    even one that cannot change results, so retrains rather than resumes: the safe side. About
    80 files, 2 MB: read once per process."""
    package = Path(__file__).resolve().parent  # bcx/
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
        if path.is_file() and not hidden and path.suffix not in {".pyc", ".pyo"}:
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = importlib.metadata.version("bcx")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        version = "unknown"
    return f"{version}+{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Saved:
    completed_rounds: int  # fits finished
    train: Demonstrations  # what the last finished fit trained on
    next_seed: int  # the collector's next collection seed
    checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)  # the finished rounds' metrics


class RoundStore:
    """``<root>/<hash of the config and bcx's code version>/``: the last finished round of one
    configuration, and the metrics of every round before it (``state.json``)."""

    def __init__(self, root: str | Path, config: dict[str, Any]) -> None:
        keyed = {"code": code_version(), "config": config}
        blob = json.dumps(keyed, sort_keys=True, default=str)
        self.folder = Path(root) / hashlib.sha256(blob.encode()).hexdigest()[:16]

    @contextmanager
    def held(self) -> Iterator[RoundStore]:
        """This process alone writes the store during the body (the lock file
        ``<folder>.lock`` beside it); BCXError naming resume_dir when another process holds it.
        Under DDP only rank 0 takes the lock: Lightning starts the others, which save with it."""
        with ExitStack() as stack:
            try:
                if rank_zero_only.rank == 0:
                    lock = self.folder.with_name(f"{self.folder.name}.lock")
                    stack.enter_context(locked(lock))
            except Held as held:
                raise BCXError(
                    f"resume_dir {self.folder.parent} is in use for this same config by another "
                    f"bcx run ({held}), which saves its checkpoints in {self.folder}; two runs "
                    "there would overwrite each other's. Wait for that run to end, or give this "
                    "one its own resume_dir=<folder>."
                ) from None
            except OSError as err:
                raise BCXError(
                    f"resume_dir {self.folder.parent} is not a folder bcx can write "
                    f"({describe(err)}); choose resume_dir=<a writable folder>."
                ) from None
            yield self

    def load(self) -> Saved | None:
        """The saved round, or None when there is none (or it is unreadable)."""
        try:
            state = json.loads((self.folder / STATE).read_text())
            completed = state["completed_rounds"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        train = store.load(self._data(completed))
        if train is None or not readable_checkpoint(self._checkpoint(completed)):
            return None
        checkpoint = self._checkpoint(completed)
        return Saved(completed, train, state["next_seed"], checkpoint, state.get("rounds", []))

    def save(
        self,
        trainer: pl.Trainer,
        completed_rounds: int,
        train: Demonstrations,
        next_seed: int,
        history: list[dict[str, float]],
    ) -> Path:
        """This round's checkpoint and data first, then the state file that points at them and
        holds ``history``, the finished rounds' metrics; a kill at any moment leaves the previous
        round's files and state intact."""
        self.folder.mkdir(parents=True, exist_ok=True)
        checkpoint = self._checkpoint(completed_rounds)
        save_checkpoint(trainer, checkpoint)
        atomic_write(self._data(completed_rounds), lambda f: store.write_npz(f, train))
        state = {"completed_rounds": completed_rounds, "next_seed": next_seed, "rounds": history}
        atomic_write_json(self.folder / STATE, state)
        self._checkpoint(completed_rounds - 1).unlink(missing_ok=True)
        self._data(completed_rounds - 1).unlink(missing_ok=True)
        return checkpoint

    def fit_checkpoint(self, round_index: int) -> Path | None:
        """The mid-fit checkpoint a killed run left in round ``round_index``, or None."""
        try:
            state = json.loads((self.folder / FIT_STATE).read_text())
        except (OSError, ValueError):
            return None
        path = self.folder / FIT_CHECKPOINT
        return path if state.get("round") == round_index and readable_checkpoint(path) else None

    def save_fit(self, trainer: pl.Trainer, round_index: int) -> None:
        """The fit's checkpoint, then the state naming its round; both renamed into place, so a
        kill leaves whole files (at worst a state that still names the previous round, which a
        rerun ignores)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(trainer, self.folder / FIT_CHECKPOINT)
        atomic_write_json(self.folder / FIT_STATE, {"round": round_index})

    def clear(self) -> None:
        """Forget everything saved, the state files first (without them nothing is resumed):
        the run has written its results, and running its command again trains again."""
        for name in (STATE, FIT_STATE, FIT_CHECKPOINT):
            (self.folder / name).unlink(missing_ok=True)
        for pattern in ("round-*.ckpt", "train-*.npz"):
            for path in self.folder.glob(pattern):
                path.unlink(missing_ok=True)
        with suppress(OSError):  # not empty: someone else's files, left alone
            self.folder.rmdir()

    def _checkpoint(self, rounds: int) -> Path:
        return self.folder / f"round-{rounds}.ckpt"

    def _data(self, rounds: int) -> Path:
        return self.folder / f"train-{rounds}.npz"


class SaveProgress(pl.Callback):
    """Saves the fit to a ``RoundStore`` every ``every_n_steps`` training steps so a killed run
    continues from there, and, with ``signals``, at the end of the step a stop signal came in,
    then stops the fit. Not at the fit's last step: the run's results follow it directly. Place
    it after the rollout callback, so a saved step's measurement is already done.

    resume: whether rerunning the same command resumes (``resume=true``), for the stop's line."""

    def __init__(
        self,
        store: RoundStore,
        round_index: int,
        every_n_steps: int,
        signals: StopSignals | None = None,
        *,
        resume: bool = True,
    ) -> None:
        self.store, self.round_index, self.every_n_steps = store, round_index, every_n_steps
        self.signals, self.resume = signals, resume

    def on_train_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.world_size > 1:
            # A save is collective, which one signalled rank cannot make alone: under DDP a
            # signal stops the fit Lightning's way, without saving (untested: no cluster here).
            self.signals = None
        if self.signals is not None:
            self.signals.take_sigterm()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        step = trainer.global_step
        stopping = self.signals is not None and self.signals.pending is not None
        if step < trainer.max_steps and (step % self.every_n_steps == 0 or stopping):
            self.store.save_fit(trainer, self.round_index)
        if stopping and step < trainer.max_steps:
            rerun = "rerun the same command" if self.resume else "rerun it with resume=true"
            saved = f" at step {step}; the mid-fit checkpoint is saved, {rerun} to resume"
            raise self.signals.stop(self.signals.pending, saved)


def save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
    """The trainer's full state (what a resumed fit needs) written to a temp file, then renamed
    onto ``path``: a failed write leaves no partial file and names ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        trainer.save_checkpoint(tmp, weights_only=False)
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err


# What a fit that Ctrl-C stopped kept, and what rerunning does.
RERUN_FIT = (
    "the last mid-fit checkpoint (every checkpoint.every_n_steps steps) is kept: rerun the same "
    "command to resume from it"
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
            frame_keys=learner_image_keys(cfg),
            horizon=cfg.obs.horizon,
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
