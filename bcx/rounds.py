"""Runs survive a kill: the store keyed by a run's config holds what rerunning it needs.

Multi-round runs (DAgger, fitted DART): after every fit but the last the store holds the Lightning
checkpoint (weights, optimizer, global step), the data that fit trained on and the next
collection seed; rerunning the same command continues with the next round, and a round
interrupted while gathering is regathered from the same seeds, so its data come out the same.

Every run, single fit or not: while a fit trains, ``SaveProgress`` keeps its latest mid-fit
checkpoint here (``fit.ckpt`` and ``fit.json``, which names the round). Rerunning continues that
fit from it; the run clears both once all its fits have finished.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from bcx.data import store
from bcx.data.demos import Demonstrations
from bcx.io import atomic_write, atomic_write_json

STATE = "state.json"
FIT_CHECKPOINT, FIT_STATE = "fit.ckpt", "fit.json"


@dataclass(frozen=True)
class Saved:
    completed_rounds: int  # fits finished
    train: Demonstrations  # what the last finished fit trained on
    next_seed: int  # the collector's next collection seed
    checkpoint: Path


class RoundStore:
    """``<root>/<hash of the config>/``: the last finished round of one configuration."""

    def __init__(self, root: str | Path, config: dict[str, Any]) -> None:
        blob = json.dumps(config, sort_keys=True, default=str)
        self.folder = Path(root) / hashlib.sha256(blob.encode()).hexdigest()[:16]

    def load(self) -> Saved | None:
        """The saved round, or None when there is none (or it is unreadable)."""
        try:
            state = json.loads((self.folder / STATE).read_text())
        except (OSError, ValueError):
            return None
        completed = state["completed_rounds"]
        train = store.load(self._data(completed))
        if train is None or not self._checkpoint(completed).is_file():
            return None
        return Saved(completed, train, state["next_seed"], self._checkpoint(completed))

    def save(
        self, trainer: pl.Trainer, completed_rounds: int, train: Demonstrations, next_seed: int
    ) -> Path:
        """This round's checkpoint and data first, then the state file that points at them; a
        kill at any moment leaves the previous round's files and state intact."""
        self.folder.mkdir(parents=True, exist_ok=True)
        checkpoint = self._checkpoint(completed_rounds)
        tmp = checkpoint.with_name(f".{checkpoint.name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # the full state a resumed fit needs
        tmp.replace(checkpoint)
        atomic_write(self._data(completed_rounds), lambda f: store.write_npz(f, train))
        state = {"completed_rounds": completed_rounds, "next_seed": next_seed}
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
        return path if state.get("round") == round_index and path.is_file() else None

    def save_fit(self, trainer: pl.Trainer, round_index: int) -> None:
        """The fit's checkpoint, then the state naming its round; both renamed into place, so a
        kill leaves whole files (at worst a state that still names the previous round, which a
        rerun ignores)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / FIT_CHECKPOINT
        tmp = path.with_name(f".{path.name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # the full state a resumed fit needs
        tmp.replace(path)
        atomic_write_json(self.folder / FIT_STATE, {"round": round_index})

    def clear_fit(self) -> None:
        """Forget the mid-fit checkpoint: the run's fits are finished."""
        (self.folder / FIT_STATE).unlink(missing_ok=True)
        (self.folder / FIT_CHECKPOINT).unlink(missing_ok=True)

    def _checkpoint(self, rounds: int) -> Path:
        return self.folder / f"round-{rounds}.ckpt"

    def _data(self, rounds: int) -> Path:
        return self.folder / f"train-{rounds}.npz"


class SaveProgress(pl.Callback):
    """Saves the fit to a ``RoundStore`` every ``every_n_steps`` training steps so a killed run
    continues from there. Not at the fit's last step: the run's results follow it directly. Place
    it after the rollout callback, so a saved step's measurement is already done."""

    def __init__(self, store: RoundStore, round_index: int, every_n_steps: int) -> None:
        self.store, self.round_index, self.every_n_steps = store, round_index, every_n_steps

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 and step < trainer.max_steps:
            self.store.save_fit(trainer, self.round_index)
