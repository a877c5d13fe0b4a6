"""Experts shipped with bcx: SAC actors trained by ``bcx-expert``, loaded with torch alone.

Each zoo entry is a folder ``bcx/zoo/<env id>/`` holding ``actor.pt`` (the deterministic part of
an SB3 SAC actor: MLP trunk, mean layer, tanh squashing; no critics, no replay buffer) and
``meta.json`` (env id, algorithm, steps, seed, measured return, package versions).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from bcx.errors import BCXError
from bcx.experts.base import Expert, box, check_matches_env

ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"
ACTOR_FILE, META_FILE = "actor.pt", "meta.json"


class SquashedActor(nn.Module):
    """obs -> tanh(mean(trunk(obs))) rescaled to the action bounds: SAC's deterministic action."""

    def __init__(self, weights: dict[str, torch.Tensor], low: np.ndarray, high: np.ndarray):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(_count_trunk_layers(weights)):
            out_features, in_features = weights[f"trunk.{2 * i}.weight"].shape
            layers += [nn.Linear(in_features, out_features), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.mean = nn.Linear(*reversed(weights["mean.weight"].shape))
        self.load_state_dict(weights)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        squashed = torch.tanh(self.mean(self.trunk(obs)))
        return self.low + 0.5 * (squashed + 1.0) * (self.high - self.low)


def _count_trunk_layers(weights: dict[str, torch.Tensor]) -> int:
    return sum(1 for k in weights if k.startswith("trunk.") and k.endswith(".weight"))


class ZooExpert(Expert):
    """The shipped expert for the env's id; deterministic and batched."""

    def __init__(self, *, env: gym.Env, zoo_dir: str | Path | None = None) -> None:
        zoo = _zoo_folder(zoo_dir)
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        folder = zoo / env_id
        if not (folder / ACTOR_FILE).is_file():
            raise BCXError(
                f"expert=zoo has no expert for env {env_id} in {zoo}; available: "
                f"{', '.join(available(zoo)) or 'none'}. Train one with `bcx-expert env=<name>` "
                "or choose another expert."
            )
        self.meta = read_meta(folder)
        self.actor = load_actor(folder / ACTOR_FILE)
        # What it was trained on: the shapes meta.json records, the bounds the actor scales to.
        low, high = (
            bound.numpy().astype(np.float64) for bound in (self.actor.low, self.actor.high)
        )
        self.observation_space = box(tuple(self.meta["obs_shape"]))
        self.action_space = box(tuple(self.meta["act_shape"]), low, high)
        check_matches_env(self, env, "zoo")

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions = self.actor(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        return actions.numpy().astype(np.float64)


def _zoo_folder(zoo_dir: str | Path | None) -> Path:
    """expert.zoo_dir as a folder: bcx's own zoo when null; an empty string or a file is refused
    by name rather than searched for experts that cannot be there."""
    if zoo_dir is None:
        return ZOO_DIR
    if str(zoo_dir).strip() == "":
        raise BCXError(
            "expert.zoo_dir is empty; set it to a folder written by `bcx-expert zoo_dir=...`, "
            "or to null for the zoo shipped with bcx."
        )
    zoo = Path(zoo_dir).expanduser()
    if zoo.exists() and not zoo.is_dir():
        raise BCXError(
            f"expert.zoo_dir={zoo_dir} is a file, not a folder; give the folder written by "
            "`bcx-expert zoo_dir=...` (it holds <env id>/actor.pt), or null for bcx's own zoo."
        )
    return zoo


def available(zoo: Path = ZOO_DIR) -> list[str]:
    """Env ids with a shipped expert."""
    return sorted(p.parent.name for p in zoo.glob(f"*/{ACTOR_FILE}"))


def read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError) as err:
        raise BCXError(f"expert=zoo: cannot read {folder / META_FILE}: {err}") from err


def load_actor(path: Path) -> SquashedActor:
    """Read an ``actor.pt`` written by ``save_actor``; a damaged file is a BCXError naming it."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return SquashedActor(saved["weights"], saved["action_low"], saved["action_high"]).eval()
    except (OSError, RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as err:
        reason = str(err).splitlines()[0]
        raise BCXError(f"expert=zoo: {path} is not a readable bcx actor file: {reason}") from err


def save_actor(write, weights: dict[str, torch.Tensor], low: np.ndarray, high: np.ndarray) -> None:
    """Serialize an actor for ``load_actor`` into the binary file object ``write``."""
    payload = {
        "weights": {k: v.detach().cpu().clone() for k, v in weights.items()},
        "action_low": torch.as_tensor(low, dtype=torch.float32),
        "action_high": torch.as_tensor(high, dtype=torch.float32),
    }
    torch.save(payload, write)
