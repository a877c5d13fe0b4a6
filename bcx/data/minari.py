"""Demonstrations to and from Farama Minari datasets, with h5py alone (no ``minari`` package).

A Minari dataset is a folder ``<dataset>/data/`` holding ``main_data.hdf5`` and ``metadata.json``.
The HDF5 file has one group ``episode_<i>`` per episode with ``observations`` (T+1 rows: the
state after the last action is stored too), ``actions``, ``rewards``, ``terminations`` and
``truncations`` (T rows each), an ``infos`` group, and the attributes ``id`` and
``total_steps`` (and ``seed`` when known). ``metadata.json`` carries the dataset id, counts, the
serialized spaces and the env spec. This is the layout minari 0.5.x writes with its
``DataCollector`` and reads with ``minari.load_dataset``.

Only flat Box observations and Box actions are supported, which is what a BC policy here takes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np

from bcx.data.demos import Demonstrations
from bcx.errors import BCXError
from bcx.io import umask

MAIN_FILE, METADATA_FILE = "main_data.hdf5", "metadata.json"
# The Minari release whose on-disk format is written; every 0.5.x reader lists it as supported.
MINARI_VERSION = "0.5.0"
# (namespace/)name-v<version>, as minari.parse_dataset_id requires; the version is mandatory.
DATASET_ID = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")
_EPISODE = re.compile(r"^episode_\d+$")  # ids run 0..E-1, as minari numbers them
log = logging.getLogger(__name__)


def read_minari(path: str | Path) -> Demonstrations:
    """Every episode of a Minari dataset as Demonstrations.

    path: the dataset folder (the one holding ``data/``), its ``data/`` folder, or
    ``main_data.hdf5`` itself. Each episode's final observation is dropped (no action labels
    it); returns are the sums of the stored per-step rewards.
    """
    file = _main_file(Path(path))
    _check_box_spaces(file.parent / METADATA_FILE)
    try:
        with h5py.File(file, "r") as h5:
            names = [f"episode_{i}" for i in range(sum(1 for k in h5 if _EPISODE.match(k)))]
            episodes = [_read_episode(h5[name], f"{file}:{name}") for name in names]
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise BCXError(f"{file} is not a readable Minari HDF5 file: {err}.") from err
    if not episodes:
        raise BCXError(f"{file} holds no episodes (no 'episode_<i>' groups).")
    obs, actions, rewards = zip(*episodes, strict=True)
    return Demonstrations(
        obs=np.concatenate(obs).astype(np.float32),
        actions=np.concatenate(actions).astype(np.float32),
        episode_lengths=np.array([len(a) for a in actions], dtype=np.int64),
        returns=np.array([r.sum() for r in rewards], dtype=np.float64),
    )


def read_metadata(path: str | Path) -> dict | None:
    """The ``metadata.json`` beside the dataset at ``path`` (as ``read_minari`` takes it), or
    None when there is none (a bare ``main_data.hdf5``)."""
    file = _main_file(Path(path)).parent / METADATA_FILE
    if not file.is_file():
        return None
    try:
        metadata = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise BCXError(f"{file} is not readable Minari metadata: {err}.") from err
    if not isinstance(metadata, dict):
        raise BCXError(f"{file} is not readable Minari metadata: not a JSON object.")
    return metadata


def recorded_env_id(metadata: dict | None) -> str | None:
    """The id of the env a dataset was recorded on, from its metadata's ``env_spec`` (a JSON
    string, as minari and bcx write it, or an object); None when it records none."""
    spec = (metadata or {}).get("env_spec")
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return None
    env_id = spec.get("id") if isinstance(spec, dict) else None
    return env_id if isinstance(env_id, str) and env_id else None


def check_recorded_on(
    demos: Demonstrations,
    metadata: dict | None,
    *,
    env_id: str,
    observation_space: gym.Space,
    action_space: gym.Space,
    path: str | Path,
) -> None:
    """Raise BCXError unless the dataset at ``path`` was recorded on ``env_id`` and its
    observation and action widths are the env's. A dataset whose metadata names no env
    (no ``env_spec``) is checked by its widths alone, and a log line says so."""
    recorded = recorded_env_id(metadata)
    if recorded is None:
        log.warning(
            "the Minari dataset at data.path=%s records no env_spec: checking only its "
            "observation and action widths against env.id=%s",
            path,
            env_id,
        )
    elif recorded != env_id:
        raise BCXError(
            f"data.path={path} is a Minari dataset recorded on env {recorded}, but env.id is "
            f"{env_id}; choose the env it was recorded on (env=...) or a dataset of {env_id}."
        )
    widths = {
        "observation": (demos.obs.shape[1:], observation_space.shape),
        "action": (demos.actions.shape[1:], action_space.shape),
    }
    wrong = [
        f"{kind} shape {tuple(got)} where env.id={env_id} has {tuple(want)}"
        for kind, (got, want) in widths.items()
        if tuple(got) != tuple(want)
    ]
    if wrong:
        on = f"env {recorded}" if recorded else "an env it does not name (no env_spec)"
        raise BCXError(
            f"data.path={path} is a Minari dataset recorded on {on} with {' and '.join(wrong)}; "
            f"choose a dataset recorded on {env_id}."
        )


def _main_file(path: Path) -> Path:
    for candidate in (path, path / MAIN_FILE, path / "data" / MAIN_FILE):
        if candidate.is_file():
            return candidate
    raise BCXError(
        f"no Minari dataset at {path}: expected a dataset folder holding data/{MAIN_FILE}, "
        f"its data/ folder, or the {MAIN_FILE} file itself."
    )


def _check_box_spaces(metadata_file: Path) -> None:
    """Reject non-Box spaces by their declared type; a file without metadata is checked by the
    arrays' shapes alone (in ``_read_episode``)."""
    if not metadata_file.is_file():
        return
    try:
        metadata = json.loads(metadata_file.read_text())
        types = {k: json.loads(metadata[k])["type"] for k in ("observation_space", "action_space")}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BCXError(f"{metadata_file} is not readable Minari metadata: {err}.") from err
    if types != {"observation_space": "Box", "action_space": "Box"}:
        raise BCXError(
            f"{metadata_file} declares a {types['observation_space']} observation space and a "
            f"{types['action_space']} action space; bcx reads only flat Box observations and "
            "Box actions."
        )


def _read_episode(group: h5py.Group, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs (T, obs_dim), actions (T, act_dim), rewards (T,)) of one episode group."""
    for key in ("observations", "actions"):
        item = group[key]
        if not isinstance(item, h5py.Dataset) or item.ndim != 2 or item.dtype.kind not in "fiub":
            what = "a group (Dict or Tuple space)" if isinstance(item, h5py.Group) else item.shape
            raise BCXError(
                f"{name}/{key} is {what}; bcx reads only flat Box observations and Box actions "
                "(one numeric row per step)."
            )
    obs, actions, rewards = group["observations"][()], group["actions"][()], group["rewards"][()]
    if len(obs) != len(actions) + 1 or len(rewards) != len(actions):
        raise BCXError(
            f"{name} has {len(obs)} observations, {len(actions)} actions and {len(rewards)} "
            "rewards; Minari stores T+1 observations for T actions and rewards."
        )
    for key, rows in (("observations", obs[:-1]), ("actions", actions)):
        bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
        if len(bad):
            raise BCXError(
                f"{name}/{key} holds NaN or inf values in {len(bad)} of its {len(rows)} rows "
                f"(the first at step {bad[0]}); bcx trains only on finite observations and "
                "actions: repair or drop that episode."
            )
    return obs[:-1], actions, rewards


def write_minari(
    demos: Demonstrations,
    path: str | Path,
    *,
    env: gym.Env,
    dataset_id: str,
    rewards: np.ndarray,
    final_obs: np.ndarray,
    terminated: np.ndarray,
    seeds: Sequence[int] | None = None,
    algorithm_name: str | None = None,
    description: str | None = None,
) -> Path:
    """Write ``demos`` as the Minari dataset folder ``path`` (which must not exist) and return it.

    Minari stores what Demonstrations does not, so the caller supplies it rather than have it
    invented: rewards (N,) the per-step rewards, row-aligned with ``demos.obs`` (their per-episode
    sums must match ``demos.returns``); final_obs (E, obs_dim) the observation after each
    episode's last action; terminated (E,) bool, True where the episode ended in a terminal state
    and False where it was truncated (time limit). seeds (E,) are the reset seeds, if known.
    ``actions`` are written as Minari's executed actions: the demos' labels, which are what was
    executed when collected without noise injection. env supplies the spaces and the env spec
    (``minari`` recreates the env from it). Atomic: the folder is built under a temporary name
    next to ``path`` and renamed into place.
    """
    path = Path(path)
    if not DATASET_ID.match(dataset_id):
        raise BCXError(
            f"dataset_id={dataset_id!r} is not a Minari id; use (namespace/)name-v<version>, "
            "e.g. 'bcx/reacher/pd-v0'."
        )
    if path.exists():
        raise BCXError(f"{path} already exists; Minari datasets are not overwritten.")
    _check_write_inputs(demos, env, rewards, final_obs, terminated, seeds)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        (tmp / "data").mkdir()
        _write_episodes(tmp / "data" / MAIN_FILE, demos, env, rewards, final_obs, terminated, seeds)
        metadata = _metadata(demos, env, dataset_id, algorithm_name, description)
        metadata["dataset_size"] = round((tmp / "data" / MAIN_FILE).stat().st_size / 1e6, 1)  # MB
        (tmp / "data" / METADATA_FILE).write_text(json.dumps(metadata))
        for file in (tmp / "data").iterdir():  # on disk before the rename publishes them
            with open(file, "rb") as f:
                os.fsync(f.fileno())
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes it 0700: private to its owner
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _check_write_inputs(
    demos: Demonstrations,
    env: gym.Env,
    rewards: np.ndarray,
    final_obs: np.ndarray,
    terminated: np.ndarray,
    seeds: Sequence[int] | None,
) -> None:
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
        raise BCXError("write_minari supports envs with Box observation and action spaces only.")
    episodes, steps = demos.num_episodes, len(demos)
    expected = {
        "demos.obs": (demos.obs.shape, (steps, *obs_space.shape)),
        "demos.actions": (demos.actions.shape, (steps, *act_space.shape)),
        "rewards": (np.shape(rewards), (steps,)),
        "final_obs": (np.shape(final_obs), (episodes, *obs_space.shape)),
        "terminated": (np.shape(terminated), (episodes,)),
    }
    if seeds is not None:
        expected["seeds"] = (np.shape(seeds), (episodes,))
    for name, (shape, want) in expected.items():
        if tuple(shape) != want:
            raise ValueError(f"write_minari: {name} has shape {tuple(shape)}, expected {want}.")
    sums = np.add.reduceat(rewards, _starts(demos)) if steps else np.zeros(0)
    if not np.allclose(sums, demos.returns):
        raise ValueError("write_minari: rewards do not sum to demos.returns per episode.")


def _starts(demos: Demonstrations) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(demos.episode_lengths)[:-1]]).astype(np.int64)


def _write_episodes(
    file: Path,
    demos: Demonstrations,
    env: gym.Env,
    rewards: np.ndarray,
    final_obs: np.ndarray,
    terminated: np.ndarray,
    seeds: Sequence[int] | None,
) -> None:
    obs_dtype, act_dtype = env.observation_space.dtype, env.action_space.dtype
    with h5py.File(file, "w", track_order=True) as h5:
        for i, (start, length) in enumerate(
            zip(_starts(demos), demos.episode_lengths, strict=True)
        ):
            rows = slice(start, start + length)
            ends = np.zeros(length, dtype=bool)
            ends[-1:] = True  # only the last step ends the episode, one way or the other
            group = h5.create_group(f"episode_{i}")
            group.attrs["id"] = i
            group.attrs["total_steps"] = int(length)
            if seeds is not None:
                group.attrs["seed"] = int(seeds[i])
            obs = np.concatenate([demos.obs[rows], final_obs[i : i + 1]]).astype(obs_dtype)
            group.create_dataset("observations", data=obs)
            group.create_dataset("actions", data=demos.actions[rows].astype(act_dtype))
            group.create_dataset("rewards", data=np.asarray(rewards[rows], dtype=np.float64))
            group.create_dataset("terminations", data=ends & bool(terminated[i]))
            group.create_dataset("truncations", data=ends & (not terminated[i]))
            group.create_group("infos")  # none recorded; minari reads it as an empty dict


def _metadata(
    demos: Demonstrations,
    env: gym.Env,
    dataset_id: str,
    algorithm_name: str | None,
    description: str | None,
) -> dict:
    metadata = {
        "dataset_id": dataset_id,
        "total_episodes": demos.num_episodes,
        "total_steps": len(demos),
        "data_format": "hdf5",
        "jpeg_encoding": False,
        "observation_space": _serialize_box(env.observation_space),
        "action_space": _serialize_box(env.action_space),
        "minari_version": MINARI_VERSION,
    }
    if env.spec is not None:
        # Kwargs that JSON cannot hold leave the spec out: minari then cannot recreate the env.
        with contextlib.suppress(TypeError, ValueError):
            metadata["env_spec"] = env.spec.to_json()
    if algorithm_name is not None:
        metadata["algorithm_name"] = algorithm_name
    if description is not None:
        metadata["description"] = description
    return metadata


def _serialize_box(space: gym.spaces.Box) -> str:
    """A Box as minari.serialization.serialize_space writes it (a JSON string)."""
    return json.dumps(
        {
            "type": "Box",
            "dtype": str(space.dtype),
            "shape": list(space.shape),
            "low": space.low.tolist(),
            "high": space.high.tolist(),
        }
    )
