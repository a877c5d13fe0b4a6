"""Multi-round runs (DAgger, fitted DART) survive a kill: each finished round is saved.

After every fit the store holds the Lightning checkpoint (weights, optimizer, global step), the
data that fit trained on and the next collection seed. The folder is keyed by the run's config, so
rerunning the same command finds it and continues with the next round; a round interrupted while
gathering or fitting is redone from the same seeds, so its data come out the same.
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
        trainer.save_checkpoint(tmp)
        tmp.replace(checkpoint)
        atomic_write(self._data(completed_rounds), lambda f: store.write_npz(f, train))
        state = {"completed_rounds": completed_rounds, "next_seed": next_seed}
        atomic_write_json(self.folder / STATE, state)
        self._checkpoint(completed_rounds - 1).unlink(missing_ok=True)
        self._data(completed_rounds - 1).unlink(missing_ok=True)
        return checkpoint

    def _checkpoint(self, rounds: int) -> Path:
        return self.folder / f"round-{rounds}.ckpt"

    def _data(self, rounds: int) -> Path:
        return self.folder / f"train-{rounds}.npz"
