"""Checks on the composed config, before any work: a bad value costs nothing and overwrites nothing.

``validate`` is the one entry point. It first checks every key against the schema
(``bcx.schema``: known keys, types, ranges), then the relations between keys and with the
machine: held-out episodes, data source, registered env (after importing ``env.module``, a user's
module that registers it) and the keyword arguments its class takes, disjoint seeds, sizes the
machine holds, an accelerator and device count the machine has, wandb's mode.
"""

from __future__ import annotations

import inspect
import os
import re
from typing import Any

import gymnasium as gym
import torch
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from bcx import schema
from bcx.errors import BCXError
from bcx.schema import nearest

# rollout.num_envs up to this is always accepted, whatever the episode counts (the default).
ENVS_ALWAYS_ALLOWED = 8
# Training memory per trunk weight (fp32 weight, gradient and Adam's two moments) and per hidden
# unit of a batch row (fp32 activation, its gradient and the activation function's output).
BYTES_PER_WEIGHT = 16
BYTES_PER_ACTIVATION = 12
# What wandb.init's mode may be (its own "shared", "dryrun" and "run" are not what bcx documents).
WANDB_MODES = ("online", "offline", "disabled")


def validate(cfg: DictConfig) -> None:
    """Raise BCXError naming the first bad key, what it must be, and what it got."""
    schema.check(cfg)
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
    _require_registered_env(cfg.env)
    _require_env_kwargs(cfg.env)
    _require_disjoint_seeds(cfg)
    _require_sizes_fit(cfg)
    _require_trainer_runs_here(cfg.trainer)
    _require_wandb_mode(cfg)


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


def _require_registered_env(env: DictConfig) -> None:
    """The env id is in gymnasium's registry (checked without building the env), once bcx's
    own envs and the module ``env.module`` names, if any, have registered theirs."""
    from bcx.envs import import_env_module  # registers bcx/* env ids

    import_env_module(env)
    try:
        gym.spec(env.id)
    except gym.error.Error as err:
        own = (
            ""
            if env.get("module")
            else "; your own env: name the module registering it in env.module"
        )
        raise BCXError(
            f"env.id={env.id} is not a registered gymnasium environment: {err}{own}"
        ) from err


def _require_env_kwargs(env: DictConfig) -> None:
    """Every key of env.kwargs is a keyword argument of gym.make or of the env's class, found
    through gymnasium's registry without building the env; any key passes where the entry point
    takes ``**kwargs`` it does not hand on to a parent class's ``__init__``."""
    if not env.kwargs:
        return
    spec = gym.spec(env.id)
    try:
        creator = gym.envs.registration.load_env_creator(spec.entry_point)
    except Exception:  # an entry point that does not import: gym.make reports it
        return
    accepted = _env_parameters(creator)
    if accepted is None:
        return
    accepted |= {"render_mode", *(_keyword_parameters(gym.make)[0] or {})} - {"id"}
    where = spec.entry_point if isinstance(spec.entry_point, str) else creator.__qualname__
    for key in env.kwargs:
        if key not in accepted:
            near = nearest(str(key), sorted(accepted))
            hint = (
                f"did you mean env.kwargs.{near}?"
                if near
                else f"it takes: {', '.join(sorted(accepted))}."
            )
            raise BCXError(
                f"env.kwargs.{key} is not a keyword argument of {env.id} ({where}) or gym.make; "
                f"{hint}"
            )


def _env_parameters(creator: Any) -> set[str] | None:
    """The keyword arguments an env function, or an env class, takes: its ``__init__``'s, and
    where that takes ``**kwargs``, those the next ``__init__`` up the MRO it hands them on to
    has defaults for (MuJoCo envs hand theirs to ``MujocoEnv``, and pass its required ones
    themselves). None where any keyword passes: a ``**kwargs`` that no parent's ``__init__``
    narrows (the env reads them itself)."""
    if not isinstance(creator, type):
        params, open_ended = _keyword_parameters(creator)
        return None if params is None or open_ended else set(params)
    names: set[str] = set()
    first = True
    for cls in creator.__mro__:
        init = cls.__dict__.get("__init__")
        if cls is object:
            return None
        if init is None:
            continue
        params, open_ended = _keyword_parameters(init)
        if params is None:
            return None
        names |= {n for n, p in params.items() if first or p.default is not p.empty} - {"self"}
        if not open_ended:
            return names
        first = False
    return names


def _keyword_parameters(function: Any) -> tuple[dict[str, inspect.Parameter] | None, bool]:
    """(the parameters it takes by keyword, whether it also takes ``**kwargs``); (None, True)
    where it has no signature to read."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None, True
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    named = {p.name: p for p in params if p.kind in kinds}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def _require_trainer_runs_here(trainer: DictConfig) -> None:
    """trainer.accelerator is one this machine has and trainer.devices a count or list of
    devices it has: Lightning would refuse them only when the Trainer is built, after the
    demonstrations are collected."""
    available = _accelerators()
    accelerator = trainer.get("accelerator", "auto")
    if not isinstance(accelerator, str):  # an Accelerator object built by Hydra: Lightning's
        return
    if accelerator not in available:
        if accelerator in ("gpu", "cuda", "mps", "tpu"):
            why = f": no {accelerator.upper()} device is available here; choose trainer=cpu"
        else:
            near = nearest(accelerator, available)
            why = f"; did you mean {near}?" if near else ""
        raise BCXError(
            f"trainer.accelerator must be one of {', '.join(available)}, the accelerators this "
            f"machine has (got {accelerator!r}{why})."
        )
    _require_devices(trainer.get("devices", "auto"), _resolved(accelerator))


def _accelerators() -> list[str]:
    """The trainer.accelerator values this machine can run: auto and cpu; gpu and cuda where
    torch sees a CUDA device, gpu and mps on Apple silicon; any other Lightning accelerator
    (tpu) whose own check finds its device."""
    from pytorch_lightning.accelerators import AcceleratorRegistry

    names = ["auto", "cpu"]
    if _cuda_count() > 0:
        names += ["gpu", "cuda"]
    if _mps():
        names += [name for name in ("gpu", "mps") if name not in names]
    for name in sorted(AcceleratorRegistry.available_accelerators()):
        if name not in ("cpu", "cuda", "mps") and _registry_available(name):
            names.append(name)
    return names


def _registry_available(name: str) -> bool:
    from pytorch_lightning.accelerators import AcceleratorRegistry

    try:
        return bool(AcceleratorRegistry[name]["accelerator"].is_available())
    except Exception:  # an optional backend whose check fails: not usable here
        return False


def _cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps() -> bool:
    return bool(torch.backends.mps.is_available())


def _resolved(accelerator: str) -> str:
    """Which accelerator Lightning picks for "auto" and "gpu"."""
    if accelerator in ("auto", "gpu"):
        if _cuda_count() > 0:
            return "cuda"
        if _mps():
            return "mps"
        return "cpu" if accelerator == "auto" else accelerator
    return accelerator


def _require_devices(devices: Any, accelerator: str) -> None:
    """trainer.devices for ``accelerator``: 'auto' or a positive count on any; on a GPU also -1
    (all of them) or a list of indices, none past the devices torch sees."""
    if isinstance(devices, str) and devices != "auto":  # Lightning's "2", "-1", "0,1"
        text = devices.strip().rstrip(",")
        if re.fullmatch(r"-?\d+", text):
            devices = int(text)
        elif re.fullmatch(r"\d+(,\d+)*", text):
            devices = [int(d) for d in text.split(",")]
    gpu = accelerator in ("cuda", "mps")
    count = _cuda_count() if accelerator == "cuda" else (1 if accelerator == "mps" else None)
    allowed = "a positive integer or auto"
    if gpu:
        allowed = (
            f"a positive integer (at most {count}, the GPUs torch sees), -1 (all of them), auto, "
            f"or a list of GPU indices below {count}"
        )
    if isinstance(devices, ListConfig | list):
        indices = list(devices)
        ok = (
            gpu
            and indices
            and all(schema.is_int(i) and 0 <= i < count for i in indices)
            and len(set(indices)) == len(indices)
        )
    else:
        ok = devices == "auto" or (
            schema.is_int(devices)
            and (devices > 0 or (gpu and devices == -1))
            and (count is None or devices <= count)
        )
    if not ok:
        shown = list(devices) if isinstance(devices, ListConfig) else devices
        raise BCXError(
            f"trainer.devices must be {allowed} with trainer.accelerator={accelerator} "
            f"(got {shown!r})."
        )


def _require_wandb_mode(cfg: DictConfig) -> None:
    """logger.mode of a wandb logger: online, offline or disabled (or null: wandb's default),
    checked here rather than by wandb once the run has started."""
    target = schema.group_target(cfg, "logger")
    if target is None or not isinstance(target, type):
        return
    from pytorch_lightning.loggers import WandbLogger

    if not issubclass(target, WandbLogger) or "mode" not in cfg.logger:
        return
    mode = cfg.logger.mode
    if mode is None or mode in WANDB_MODES:
        return
    source = ""
    if OmegaConf.is_interpolation(cfg.logger, "mode"):
        raw = OmegaConf.to_container(cfg.logger, resolve=False)["mode"]
        source = f", from {raw}" if "WANDB_MODE" not in raw else ", from the WANDB_MODE variable"
    near = nearest(mode, WANDB_MODES) if isinstance(mode, str) else None
    hint = f"; did you mean {near}?" if near else ""
    raise BCXError(
        f"logger.mode must be null or one of {', '.join(WANDB_MODES)} (got {mode!r}{source}{hint})."
    )


def collection_notice(cfg: DictConfig) -> str:
    """One line for the log before collecting: how many expert episodes and, where the env has a
    step limit, at most how many env steps. bcx does not cap data.episodes (no bound would
    be right for every env and machine); it says up front what a large value costs."""
    import bcx.envs  # noqa: F401  (registers bcx/* env ids)

    limit = cfg.env.kwargs.get("max_episode_steps") or gym.spec(cfg.env.id).max_episode_steps
    steps = (
        f", at most {cfg.data.episodes * limit:,} env steps ({limit} per episode)" if limit else ""
    )
    return (
        f"demonstrations to collect: {cfg.data.episodes} episodes of {cfg.env.id}{steps}, on "
        f"{min(cfg.rollout.num_envs, cfg.data.episodes)} envs at once"
    )


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
