"""Any stable-baselines3 model a user has, as a bcx expert: ``expert=sb3 expert.path=model.zip``.

The model's deterministic action (``predict(obs, deterministic=True)``, which SB3 already returns
in the env's action units for Box spaces) is the label. A model trained inside ``VecNormalize``
only acts sensibly on normalized observations: pass the statistics file it saved
(``VecNormalize.save``) as ``expert.vecnormalize`` and the same normalization is applied here with
numpy, without a VecEnv. Both files are unpickled (SB3 model files carry cloudpickled objects):
load only files you trust.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bcx.errors import BCXError
from bcx.experts.base import Expert, check_matches_env

ALGOS: dict[str, type[BaseAlgorithm]] = {
    "sac": SAC,
    "td3": TD3,
    "ddpg": DDPG,
    "ppo": PPO,
    "a2c": A2C,
}

# A hyperparameter that only these algorithms save in a model file's "data", checked in order
# (PPO saves vf_coef too, so clip_range comes first). DDPG is TD3 with other defaults: its files
# carry the same keys, so the two cannot be told apart, and either class loads either file.
_SAVED_BY = (
    ("target_entropy", ("sac",)),
    ("policy_delay", ("td3", "ddpg")),
    ("clip_range", ("ppo",)),
    ("vf_coef", ("a2c",)),
)

# Schedules are pickled closures that may not unpickle under another Python/SB3 version, and
# predicting needs none of them.
_UNUSED_ON_LOAD = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}


class SB3Expert(Expert):
    """A saved SB3 model (sac, td3, ddpg, ppo or a2c), deterministic and batched, on the CPU."""

    def __init__(
        self, *, env: gym.Env, path: str | None, algo: str, vecnormalize: str | None = None
    ) -> None:
        """path: the model's .zip (``model.save``); algo: the SB3 class that saved it;
        vecnormalize: the ``VecNormalize.save`` file the model was trained with, or None."""
        if algo not in ALGOS:
            raise BCXError(
                f"expert.algo={algo!r} is not a stable-baselines3 algorithm bcx can load; "
                f"allowed: {', '.join(ALGOS)}."
            )
        model_file = _existing_file("expert.path", path, "the .zip written by SB3's model.save()")
        _check_saved_by(model_file, algo)
        self.model = _load_model(model_file, algo)
        # The spaces the model was trained on, as it saved them.
        self.observation_space = self.model.observation_space
        self.action_space = self.model.action_space
        _check_spaces(self, env, model_file)
        self.obs_stats = (
            None if vecnormalize is None else _load_obs_stats(vecnormalize, env.observation_space)
        )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Actions: obs (B, obs_dim) -> (B, act_dim) float64 inside the action bounds."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.obs_stats is not None:  # in float64 then float32, as VecNormalize does
            mean, scale, clip = self.obs_stats
            obs = np.clip((obs - mean) / scale, -clip, clip).astype(np.float32)
        actions, _ = self.model.predict(obs, deterministic=True)
        return np.clip(actions.astype(np.float64), self.action_space.low, self.action_space.high)


def _existing_file(key: str, path: str | Path | None, what: str) -> Path:
    if path is None or str(path).strip() == "":
        raise BCXError(f"{key} is not set; give the path to {what} ({key}=/path/to/file).")
    file = Path(path).expanduser()
    if file.is_dir():
        raise BCXError(f"{key}={path} is a directory; give the path to {what} inside it.")
    if not file.is_file():
        hint = f" (did you mean {file}.zip?)" if Path(f"{file}.zip").is_file() else ""
        raise BCXError(f"{key}={path}: no such file{hint}; give the path to {what}.")
    return file


def _check_saved_by(file: Path, algo: str) -> None:
    """Read the file's saved hyperparameters (plain JSON, nothing unpickled) to tell which
    algorithm wrote it, so a mismatch is named instead of failing deep inside SB3."""
    try:
        with zipfile.ZipFile(file) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise BCXError(
            f"expert.path={file} is not a stable-baselines3 model file (a .zip holding 'data' "
            f"and 'policy.pth', as written by model.save()): {err}."
        ) from err
    saved_by = next((algos for key, algos in _SAVED_BY if key in data), None)
    if saved_by is not None and algo not in saved_by:
        raise BCXError(
            f"expert.path={file} holds a {' / '.join(saved_by)} model, but expert.algo={algo}; "
            f"set expert.algo={saved_by[0]}."
        )


def _load_model(file: Path, algo: str) -> BaseAlgorithm:
    try:
        return ALGOS[algo].load(file, device="cpu", custom_objects=_UNUSED_ON_LOAD)
    except Exception as err:  # SB3 unpickles arbitrary objects: any error means "unreadable"
        raise BCXError(
            f"expert.path={file} cannot be loaded as an SB3 {algo} model "
            f"({type(err).__name__}: {err}); check expert.algo (allowed: {', '.join(ALGOS)}) "
            "and the stable-baselines3 version that saved it."
        ) from err


def _check_spaces(expert: SB3Expert, env: gym.Env, file: Path) -> None:
    """The model's own spaces: Box ones, of the env's shapes and action bounds
    (``check_matches_env``)."""
    obs_space, act_space = expert.observation_space, expert.action_space
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
        raise BCXError(
            f"expert.path={file} has observation space {obs_space} and action space "
            f"{act_space}; expert=sb3 supports flat Box observations and Box actions only."
        )
    try:
        check_matches_env(expert, env, "sb3")
    except BCXError as err:
        raise BCXError(f"expert.path={file} was trained on another env: {err}") from None


def _load_obs_stats(
    path: str, observation_space: gym.spaces.Box
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(mean, scale, clip) for ``clip((obs - mean) / scale, -clip, clip)``, as VecNormalize
    normalizes observations; None when it was saved with ``norm_obs=False``."""
    file = _existing_file("expert.vecnormalize", path, "the file written by VecNormalize.save()")
    try:
        with open(file, "rb") as f:
            saved = pickle.load(f)
    except Exception as err:  # unpickling can fail in many ways; all mean "not this file"
        raise BCXError(
            f"expert.vecnormalize={path} is not a readable VecNormalize statistics file "
            f"({type(err).__name__}: {err}); give the file written by VecNormalize.save()."
        ) from err
    if not isinstance(saved, VecNormalize):
        raise BCXError(
            f"expert.vecnormalize={path} holds a {type(saved).__name__}, not VecNormalize "
            "statistics; give the file written by VecNormalize.save()."
        )
    if not saved.norm_obs:
        return None
    mean = getattr(saved.obs_rms, "mean", None)
    if not isinstance(mean, np.ndarray) or mean.shape != observation_space.shape:
        shape = mean.shape if isinstance(mean, np.ndarray) else "Dict observations"
        raise BCXError(
            f"expert.vecnormalize={path} normalizes observations of shape {shape}, but the env's "
            f"are {observation_space.shape}; give the statistics saved with this model."
        )
    return mean, np.sqrt(saved.obs_rms.var + saved.epsilon), float(saved.clip_obs)
