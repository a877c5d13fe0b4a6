"""bcx from Python: compose a config, run it, load the trained policy, act and evaluate.

The same pipeline as the ``bcx`` command, with no Hydra app around it: nothing here calls
``sys.exit``; bad input raises ``BCXError`` with the command's message. See docs/api.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from bcx import builders, pipeline
from bcx.command_line import compose_checked, user_config_dir
from bcx.conf_dir import CONF_DIR
from bcx.config import validate
from bcx.data.demos import Demonstrations
from bcx.encoders.mlp import MLPEncoder
from bcx.envs import learner_features
from bcx.errors import BCXError
from bcx.measure.shift import ShiftCallback, per_state_losses, shift_metrics
from bcx.model.module import BCModule
from bcx.model.policy import Policy
from bcx.quiet import quiet
from bcx.results.loggers import check_run_dir
from bcx.results.summary import METRICS_FILE
from bcx.types import STATE, Observation

CHECKPOINT = Path("checkpoints") / "last.ckpt"  # a run's final weights, inside its folder


def compose(
    overrides: Sequence[str] = (),
    config_name: str = "train",
    config_dir: str | Path | None = None,
) -> DictConfig:
    """bcx's config with command-line ``overrides`` (``["env=lane", "data.episodes=3"]``),
    checked as the ``bcx`` command checks it. Its ``run_dir`` is the folder the command would
    create, ``outputs/runs/<date>/<time to the microsecond>`` under the current folder (or
    ``hydra.run.dir``), unless an override sets ``run_dir``. config_dir: a folder of your own
    config groups, searched beside bcx's as ``bcx --config-dir <folder>`` searches it
    (docs/extending.md). Raises BCXError naming a bad key, option, value or folder, with the
    command's text."""
    if isinstance(overrides, str):
        raise BCXError(f"compose takes a list of overrides, e.g. [{overrides!r}], not one string.")
    user_dir = user_config_dir(config_dir, named="config_dir=")
    cfg = compose_checked(CONF_DIR, config_name, list(overrides), user_dir)
    if OmegaConf.is_interpolation(cfg, "run_dir"):  # ${hydra:runtime.output_dir}: no app here
        # The folder the command would use (hydra.run.dir: to the microsecond, or as overridden).
        cfg.run_dir = str(Path.cwd() / cfg.hydra.run.dir)
    with open_dict(cfg):
        del cfg["hydra"]  # the app's own settings: nothing outside the app reads them
    validate(cfg)
    check_run_dir(cfg.run_dir)
    return cfg


@dataclass(frozen=True)
class Result:
    """A finished run, as its ``<run_dir>/metrics.json`` records it.

    metrics: the final metrics (``rollout/return``, ``shift/gap_median``, ...); run_dir: the
    run's folder; curves: the figures' data (``compounding_error``: per-timestep lists);
    config: the resolved config the run used."""

    metrics: dict[str, float]
    run_dir: Path
    curves: dict[str, Any]
    config: dict[str, Any]


def run(cfg: DictConfig) -> Result:
    """Run one experiment (collect, fit, measure, write its folder) and return its results.
    The config comes from ``compose``; raises BCXError on bad input, never exits."""
    if not isinstance(cfg, DictConfig):
        raise BCXError(
            f"run takes the config bcx.compose returns, not a {type(cfg).__name__}; "
            "e.g. bcx.run(bcx.compose(['env=lane']))."
        )
    quiet()  # the command's terminal: bcx's lines and the table, not the libraries' chatter
    pipeline.run(cfg)
    run_dir = Path(cfg.run_dir).resolve()
    saved = _read_metrics(run_dir)
    return Result(
        metrics=saved["metrics"],
        run_dir=run_dir,
        curves=saved.get("curves", {}),
        config=saved["config"],
    )


@dataclass(frozen=True)
class LoadedPolicy:
    """A trained policy with its run's config. ``act`` maps env observations to env actions.

    policy: the torch module (``bcx.model.policy.Policy``, in eval mode on the CPU); config: the
    run's resolved config; checkpoint: the file its weights came from."""

    policy: Policy
    config: DictConfig
    checkpoint: Path

    @property
    def env_id(self) -> str:
        """The gymnasium id of the env the policy was trained on."""
        return self.config.env.id

    @property
    def obs_dim(self) -> int:
        """Observation features the policy reads: the env's, less its privileged ones."""
        return int(self.policy.obs_mean.shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.policy.action_center.shape[0])

    def act(self, obs: Observation, deterministic: bool = True) -> np.ndarray:
        """Actions in env units for raw env observations: (B, obs_dim) -> (B, action_dim), or
        one observation (obs_dim,) -> (action_dim,). An observation may hold the env's
        privileged features at its end (as the env returns it); the policy never reads them.
        A policy that sees images takes the env's Dict observation (one, or a batch of them
        stacked key by key). deterministic: the head's mode; else a sample (from torch's global
        generator)."""
        if isinstance(obs, Mapping):
            return self._act_on_mapping(obs, deterministic)
        batch = np.asarray(obs, dtype=np.float32)
        single = batch.ndim == 1
        if single:
            batch = batch[None]
        if batch.ndim != 2 or batch.shape[1] < self.obs_dim:
            raise BCXError(
                f"act takes observations of shape (obs_dim,) or (B, obs_dim) with obs_dim >= "
                f"{self.obs_dim} (the features of {self.env_id} the policy reads); got "
                f"{np.shape(obs)}."
            )
        actions = self.policy.numpy_fn(deterministic)(batch)
        return actions[0] if single else actions

    def make_env(self) -> gym.Env:
        """A new instance of the env the policy was trained on (its id and kwargs)."""
        return builders.make_envs(self.config.env, 1, self.sees_images)[0]

    def _act_on_mapping(self, obs: Mapping[str, np.ndarray], deterministic: bool) -> np.ndarray:
        if STATE not in obs or (self.sees_images and self.policy.image_key not in obs):
            raise BCXError(
                f"act takes the env's observation with keys state and {self.policy.image_key} "
                f"(the policy trained on {self.env_id} reads them); got keys {sorted(obs)}."
            )
        single = np.ndim(obs[STATE]) == 1
        batch = {key: np.asarray(value)[None] for key, value in obs.items()} if single else obs
        actions = self.policy.numpy_fn(deterministic)(batch)
        return actions[0] if single else actions

    @property
    def sees_images(self) -> bool:
        """Whether the policy reads a camera (its env is then made with its cameras)."""
        return self.policy.image_key is not None


def load_policy(path: str | Path) -> LoadedPolicy:
    """The policy of a run folder (its final ``checkpoints/last.ckpt``), or of a checkpoint
    file inside a run folder. The run's ``metrics.json`` supplies the config that rebuilds the
    network; the weights and the observation statistics come from the checkpoint. Raises
    BCXError naming the path when either is missing, unreadable or does not match."""
    path = Path(path)
    if path.is_dir():
        run_dir, checkpoint = path, path / CHECKPOINT
    elif path.is_file():
        run_dir = next((p for p in path.parents if (p / METRICS_FILE).is_file()), None)
        if run_dir is None:
            raise BCXError(
                f"checkpoint {path} is not inside a finished run folder: no {METRICS_FILE} in "
                "any folder above it, so its config is unknown; load_policy takes a run folder "
                "or a checkpoint inside one."
            )
        checkpoint = path
    else:
        raise BCXError(f"{path} does not exist; load_policy takes a run folder or a checkpoint.")
    saved = _read_metrics(run_dir)
    if "config" not in saved:
        raise BCXError(f"{run_dir / METRICS_FILE} holds no config; was it written by bcx?")
    if not checkpoint.is_file():
        raise BCXError(
            f"run folder {run_dir} has no checkpoint ({checkpoint} is missing); was the run "
            "folder copied without its checkpoints/ folder?"
        )
    state = _read_checkpoint(checkpoint, saved if path.is_dir() else None)
    config = OmegaConf.create(saved["config"])
    policy = policy_from_state(config, state, checkpoint)
    return LoadedPolicy(policy=policy.eval(), config=config, checkpoint=checkpoint)


def evaluate(
    policy: LoadedPolicy,
    env: str | DictConfig | None = None,
    episodes: int = 8,
    seed: int = 1_000_000,
    deterministic: bool = True,
) -> dict[str, float]:
    """The rollout measurement of the app's rollout callback, for a loaded policy: one episode
    per seed ``seed + i``, i < episodes, the expert labelling every state the policy visits.

    Returns the callback's metric names: ``rollout/return`` (mean), ``rollout/return_std``,
    ``rollout/length``, ``rollout/normalized_return`` (0 random, 1 expert), ``expert/return``
    and ``random/return`` on the same seeds, ``rollout/<outcome>`` where the env reports one
    (``success``, ``collision``), and ``shift/on_policy_nll``, ``shift/on_policy_nll_median``,
    ``shift/on_policy_mse`` (the policy's loss against the expert's labels on its own states).

    env: None for the run's env and expert; an env choice (``"lane"``: that env with its
    default expert); or a config from ``compose`` (its env and expert). The run's defaults
    (1_000_000, deterministic) are its own evaluation seeds: evaluating there reproduces the
    run's final ``rollout/*`` and ``shift/on_policy_*`` metrics."""
    if episodes < 1:
        raise BCXError(f"evaluate needs episodes >= 1 (got episodes={episodes}).")
    cfg = _evaluation_config(policy, env)
    # As many envs as the run stepped together: the policy sees the same batches.
    envs = builders.make_envs(cfg.env, min(cfg.rollout.num_envs, episodes), policy.sees_images)
    _require_fits(policy, envs[0], cfg.env.id)
    nothing = Demonstrations(  # evaluate measures no demonstrations, only the policy's states
        obs=np.zeros((0, policy.obs_dim), np.float32),
        actions=np.zeros((0, policy.action_dim), np.float32),
        episode_lengths=np.zeros(0, np.int64),
        returns=np.zeros(0),
    )
    measurement = ShiftCallback(
        envs=envs,
        expert=builders.build_expert(cfg, envs[0]),
        seeds=[seed + i for i in range(episodes)],
        every_n_steps=1,
        held_out=nothing,
        training=nothing,
        deterministic=deterministic,
        progress=False,
    )
    # The callback's own rollout and metrics, so that the numbers are the run's.
    runs = measurement.rollout(
        policy.policy.numpy_fn(deterministic), "rollout", policy.policy.horizon
    )
    visited = Demonstrations.from_trajectories(runs)
    labelled = visited.relabel(measurement.expert(visited.obs))
    # In eval mode from the start: per_state restores the mode it finds, and the policy is the
    # caller's, in eval mode. (No optimizer is ever built.)
    on_policy = per_state_losses(BCModule(policy.policy).eval(), labelled, torch.device("cpu"))
    # shift_metrics wants all three populations; only the on-policy one is measured here.
    shift = shift_metrics(dict.fromkeys(("train", "dataset", "on_policy"), on_policy))
    return {
        **measurement.rollout_metrics(runs),
        **{k: v for k, v in shift.items() if k.startswith("shift/on_policy_")},
    }


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    """``<run_dir>/metrics.json``; BCXError naming it when it is missing or damaged."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise BCXError(
            f"{run_dir} is not a finished bcx run: it has no {METRICS_FILE} (a run that was "
            "killed or failed writes none)."
        )
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BCXError(f"cannot read {path}: {err}.") from err
    if not isinstance(saved, dict) or "metrics" not in saved:
        raise BCXError(f"{path} holds no metrics; was it written by bcx?")
    return saved


def _read_checkpoint(path: Path, run: dict[str, Any] | None) -> dict[str, torch.Tensor]:
    """The policy's tensors in a Lightning checkpoint (keys without ``policy.``). With the
    run's metrics.json (``run``), the checkpoint must be from the run's last step."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["state_dict"]
    except Exception as err:  # torch raises many kinds for a damaged or foreign file
        raise BCXError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {err}); it is damaged or "
            "not a bcx checkpoint."
        ) from err
    steps = (run or {}).get("run", {}).get("steps")
    if steps is not None and checkpoint.get("global_step") != steps:
        raise BCXError(
            f"checkpoint {path} is from step {checkpoint.get('global_step')} but the run ended "
            f"at step {steps}, so it does not hold the final policy; pass the checkpoint's path "
            "to load it anyway."
        )
    policy = {k.removeprefix("policy."): v for k, v in state.items() if k.startswith("policy.")}
    if "obs_mean" not in policy or "action_center" not in policy:
        raise BCXError(f"checkpoint {path} holds no bcx policy (no policy.obs_mean).")
    return policy


def policy_from_state(config: DictConfig, state: dict[str, torch.Tensor], path: Path) -> Policy:
    """The run's network, sized by the checkpoint, with the checkpoint's weights and
    observation and action statistics (buffers: placeholders until the state is loaded)."""
    obs_dim, action_dim = len(state["obs_mean"]), len(state["action_center"])
    images = builders.learner_image_keys(config) if "obs" in config else ()
    try:
        policy = Policy(
            obs_mean=np.zeros(obs_dim),
            obs_std=np.ones(obs_dim),
            action_low=-np.ones(action_dim),
            action_high=np.ones(action_dim),
            hidden=list(config.model.hidden),
            activation=config.model.activation,
            obs_std_min=config.model.obs_std_min,
            # Runs from before the encoder group saved none: theirs was the state MLP.
            encoder=instantiate(config.encoder) if "encoder" in config else MLPEncoder,
            head=instantiate(config.policy),
            image_key=images[0] if images else None,
            image_shape=tuple(state["image_shape"].tolist()) if images else None,
            horizon=config.obs.get("horizon", 1) if "obs" in config else 1,
        )
        policy.load_state_dict(state)
    except Exception as err:  # a config or checkpoint from another bcx version
        raise BCXError(
            f"checkpoint {path} does not fit its run's config (policy "
            f"{config.policy.get('_target_')}, model.hidden={list(config.model.hidden)}): "
            f"{err}. Was it written by another bcx version?"
        ) from err
    return policy


def _evaluation_config(policy: LoadedPolicy, env: str | DictConfig | None) -> DictConfig:
    """The run's config, with the env and expert ``evaluate`` was asked for."""
    if env is None:
        return policy.config
    other = compose([f"env={env}"]) if isinstance(env, str) else env
    if not isinstance(other, DictConfig) or "env" not in other or "expert" not in other:
        raise BCXError(
            "evaluate's env is an env choice such as 'lane' or a config from bcx.compose "
            f"(with env and expert); got {env!r}."
        )
    cfg = policy.config.copy()
    with open_dict(cfg):
        cfg.env, cfg.expert = other.env, other.expert
    return cfg


def _require_fits(policy: LoadedPolicy, env: gym.Env, env_id: str) -> None:
    """The env gives the policy the features and images it reads and takes the actions it
    returns."""
    reads_state = "obs" not in policy.config or STATE in policy.config.obs["keys"]
    seen, actions = learner_features(env) if reads_state else 0, env.action_space.shape
    key, space = policy.policy.image_key, env.observation_space
    if key is not None:
        shape = tuple(policy.policy.image_shape.tolist())
        offered = (
            space[key].shape if isinstance(space, gym.spaces.Dict) and key in space.spaces else None
        )
        if offered != shape:
            raise BCXError(
                f"the policy trained on {policy.env_id} reads {key} images of shape {shape}, but "
                f"env {env_id} gives {offered or 'none'}; evaluate it on an env with that camera."
            )
    if seen != policy.obs_dim or actions != (policy.action_dim,):
        raise BCXError(
            f"the policy trained on {policy.env_id} reads {policy.obs_dim} observation features "
            f"and returns {policy.action_dim} actions, but env {env_id} gives {seen} and takes "
            f"{actions}; evaluate it on an env of the same shapes."
        )
