"""The schema of bcx's config: which keys exist, and the type and range each one allows.

``check(cfg)`` runs it, before any work, from ``bcx.config.validate``. Two sources, one rule each:

- ``KEYS``, bcx's own keys (conf/train.yaml) -> the values they allow. Their sections (``data``,
  ``model``, ``rollout``, ...) are closed: a key the table lacks, even one added with ``+``, is an
  error that suggests the nearest key.
- The groups that build an object (``policy``, ``encoder``, ``optim``, ``lr_schedule``,
  ``mitigation``, ``expert``, ``trainer``, ``logger``): the ``_target_`` must name a class of the
  group's kind (``BASES``: a policy head, a torch optimizer, a Lightning Trainer, ...) or a
  function annotated to return one, and its signature is their schema. A key it takes no
  parameter for is an error that suggests the nearest parameter, and each value must fit its
  annotation: ``int`` an integer (not a bool), ``float`` a finite number, ``bool`` true or false,
  ``str`` a string, and every ``seed`` of bcx's own families an integer in [0, 2**32). Ranges
  past that are the constructors' own checks (for bcx's families, run when the app builds them,
  still before any work) and ``bcx.config``'s (the Trainer's accelerator and devices, wandb's
  mode, the env's keyword arguments).
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union

from hydra._internal.utils import _locate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bcx.errors import BCXError
from bcx.measure.shift import GAPS, POPULATIONS
from bcx.model.policy import ACTIVATIONS
from bcx.types import OUTCOMES


@dataclass(frozen=True)
class Rule:
    """What a key allows, in words for the error message (``allowed``) and as a test."""

    allowed: str
    test: Callable[[Any], bool]
    plural: str | None = None  # the words for a list of such values ("positive integers")
    optional: bool = False  # the key may be absent
    choices: tuple[str, ...] = ()  # named values, for a did-you-mean on a near miss

    def check(self, key: str, value: Any) -> None:
        if self.test(value):
            return
        hint = nearest(value, self.choices) if isinstance(value, str) else None
        suffix = f"; did you mean {hint}?" if hint else ""
        raise BCXError(f"{key} must be {self.allowed} (got {_shown(value)}{suffix}).")


def _is_observation_key(key: Any) -> bool:
    return isinstance(key, str) and (
        key in ("state", "pixels") or (key.startswith("pixels/") and len(key) > len("pixels/"))
    )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float: inf and nan pass no range check bcx means."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def one_of(*choices: str, none: bool = False) -> Rule:
    words = f"one of {', '.join(choices)}"
    return Rule(
        f"null or {words}" if none else words,
        lambda v: (none and v is None) or (isinstance(v, str) and v in choices),
        choices=choices,
    )


def metric_names() -> tuple[str, ...]:
    """Every metric a run returns (the README's Metrics table): what optimized_metric may name.
    ``rollout/success`` and ``rollout/collision`` only for envs that report them."""
    shift = [f"shift/{p}_{s}" for p in POPULATIONS for s in ("nll", "nll_median", "mse")]
    gaps = [f"shift/{gap}{s}" for gap in GAPS for s in ("", "_median")]
    rollout = ("return", "return_std", "length", "normalized_return", *OUTCOMES)
    return (
        *("train/nll", "val/nll"),
        *shift,
        *gaps,
        *(f"rollout/{name}" for name in rollout),
        *("expert/return", "random/return", "expert/labels"),
    )


SEED_RANGE = 2**32  # numpy's and Lightning's seeds are uint32
POSITIVE_INT = Rule("a positive integer", lambda v: is_int(v) and v > 0, "positive integers")
SEED = Rule("an integer in [0, 2**32)", lambda v: is_int(v) and 0 <= v < SEED_RANGE)
BOOL = Rule("true or false", lambda v: isinstance(v, bool))
PATH = Rule("a non-empty path", lambda v: isinstance(v, str) and v != "")
POSITIVE = Rule("a finite number > 0", lambda v: is_number(v) and v > 0)

KEYS: dict[str, Rule] = {
    "seed": SEED,
    "data.source": one_of("collect", "minari"),
    "data.path": Rule("a path or null", lambda v: v is None or isinstance(v, str)),
    "data.episodes": POSITIVE_INT,
    "data.val_episodes": POSITIVE_INT,
    "data.seed": SEED,
    "data.batch_size": POSITIVE_INT,
    "data.cache_dir": PATH,
    "obs.keys": Rule(
        "a non-empty list of distinct observation keys: state, pixels, pixels/<camera>",
        lambda v: (
            isinstance(v, ListConfig | list)
            and len(v) > 0
            and len(set(v)) == len(v)
            and all(_is_observation_key(key) for key in v)
        ),
    ),
    "obs.horizon": POSITIVE_INT,
    "model.hidden": Rule(
        "a list of positive integers, e.g. [256, 256] ([] for a linear policy)",
        lambda v: isinstance(v, ListConfig | list) and all(POSITIVE_INT.test(w) for w in v),
    ),
    "model.activation": one_of(*ACTIVATIONS),
    "model.obs_std_min": POSITIVE,
    "optim.lr": replace(POSITIVE, optional=True),
    "optim.weight_decay": Rule(
        "a finite number >= 0", lambda v: is_number(v) and v >= 0, optional=True
    ),
    "rollout.every_n_steps": POSITIVE_INT,
    "rollout.episodes": POSITIVE_INT,
    "rollout.num_envs": POSITIVE_INT,
    "rollout.seed": SEED,
    "rollout.deterministic": BOOL,
    "rollout.video": BOOL,
    "figure.action_samples": BOOL,
    "checkpoint.every_n_steps": POSITIVE_INT,
    "env.id": Rule("a gymnasium env id", lambda v: isinstance(v, str) and v != ""),
    "env.kwargs": Rule("a mapping of gym.make arguments", lambda v: isinstance(v, DictConfig)),
    "env.module": Rule(
        "null or a module name such as my_pkg.envs (imported first: it registers env.id)",
        lambda v: v is None or (isinstance(v, str) and all(p.isidentifier() for p in v.split("."))),
        optional=True,
    ),
    "env.budget.episodes": replace(POSITIVE_INT, optional=True),
    "env.budget.max_steps": replace(POSITIVE_INT, optional=True),
    "trainer.max_steps": POSITIVE_INT,
    "trainer.val_check_interval": POSITIVE_INT,
    "trainer.log_every_n_steps": POSITIVE_INT,
    "trainer.num_sanity_val_steps": Rule(
        "an integer >= -1 (-1: the whole validation set)", lambda v: is_int(v) and v >= -1
    ),
    "trainer.enable_progress_bar": BOOL,
    "run_dir": PATH,
    "resume": BOOL,
    "resume_dir": PATH,
    "optimized_metric": one_of(*metric_names(), none=True),
}
# Sections whose keys are exactly KEYS' (env is open: an expert may read its own env.<name>).
CLOSED = ("data", "obs", "model", "rollout", "figure", "checkpoint", "env.budget")
# Groups that build an object -> the constructor arguments bcx passes itself at build time.
BUILT = {
    "policy": ("in_features", "action_dim"),
    "encoder": ("state_dim",),
    "optim": ("params",),
    "lr_schedule": ("optimizer", "total_steps"),
    "mitigation": ("env",),
    "expert": ("env",),
    "trainer": (  # bcx.builders.build_trainer
        "logger",
        "callbacks",
        "default_root_dir",
        "check_val_every_n_epoch",
        "use_distributed_sampler",
        "enable_model_summary",
    ),
    "logger": (),
}
# What each group's _target_ must build, when it names a class (a function is taken as a factory).
BASES = {
    "policy": "bcx.heads.base.PolicyHead",
    "encoder": "bcx.encoders.base.Encoder",
    "optim": "torch.optim.Optimizer",
    "lr_schedule": "torch.optim.lr_scheduler.LRScheduler",
    "mitigation": "bcx.mitigations.base.Mitigation",
    "expert": "bcx.experts.base.Expert",
    "trainer": "pytorch_lightning.Trainer",
    "logger": "pytorch_lightning.loggers.Logger",
}
FAMILIES = ("policy", "mitigation", "expert")  # bcx's own: every ``seed`` is a SEED
_ABSENT, _UNRESOLVED = object(), object()  # what _value returns for a missing / ${hydra:} key
_NO_HYDRA = "HydraConfig was not set"  # the ${hydra:} resolver's error outside a Hydra run
HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
TOP = tuple(dict.fromkeys([*(key.split(".")[0] for key in KEYS), *BUILT, "hydra"]))


def check(cfg: DictConfig) -> None:
    """Raise BCXError naming the first unknown key or the first value of the wrong type or
    range: unknown keys first, so a typo is reported as itself rather than by its effects."""
    for section in ("", *CLOSED, *BUILT):
        _check_keys(cfg, section)
    for key, rule in KEYS.items():
        value = _value(cfg, key)
        if value is _ABSENT:
            if not rule.optional:
                raise BCXError(f"{key} is missing; it must be {rule.allowed}.")
            continue
        if value is not _UNRESOLVED:
            rule.check(key, value)
    for group in BUILT:
        target = group_target(cfg, group)
        if target is not None:
            _check_annotations(cfg[group], group, target)


def allowed_keys(cfg: DictConfig, section: str) -> list[str] | None:
    """The keys bcx takes under ``section`` ("" for the top level); None where any key may be
    added (env, env.kwargs, an empty group, a target that takes ``**kwargs``)."""
    if not section:
        return list(TOP)
    if section in CLOSED:
        prefix = f"{section}."
        return [key.removeprefix(prefix) for key in KEYS if key.startswith(prefix)]
    target = group_target(cfg, section) if section in BUILT else None
    params = _signature(target) if target is not None else {}
    if not params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [n for n, p in params.items() if p.kind in kinds and n not in BUILT[section]]


def _check_keys(cfg: DictConfig, section: str) -> None:
    node = _value(cfg, section) if section else cfg
    known = allowed_keys(cfg, section)
    if not isinstance(node, DictConfig) or known is None:
        return
    prefix = f"{section}." if section else ""
    for key in node:
        if section in BUILT and key in HYDRA_KEYS:
            continue
        if key in BUILT.get(section, ()):
            raise BCXError(f"{prefix}{key} is set by bcx when it builds the {section}; remove it.")
        if key not in known:
            where = f"a key of {section}" if section else "a key of bcx's config"
            if section in BUILT:
                where = f"a parameter of {node._target_}"
            raise BCXError(f"{prefix}{key} is not {where}; {_choose(prefix, key, known)}")


def _value(cfg: DictConfig, key: str) -> Any:
    """cfg's value at a dotted key, resolved; _ABSENT where there is none, _UNRESOLVED for
    ``${hydra:...}``, or a key that refers to one (``logger.save_dir: ${run_dir}``), outside a
    Hydra run (a config composed by a test, a notebook or the command-line check)."""
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT)
    except OmegaConfBaseException as err:
        raw: Any = OmegaConf.to_container(cfg, resolve=False)
        for part in key.split("."):
            raw = raw[part]
        if (isinstance(raw, str) and raw.startswith("${hydra:")) or _NO_HYDRA in str(err):
            return _UNRESOLVED
        reason = str(err).splitlines()[0]
        raise BCXError(f"{key}={raw} cannot be resolved: {reason}.") from err


def group_target(cfg: DictConfig, group: str) -> Callable | None:
    """The class or function a group's ``_target_`` names; None for an empty group
    (``logger=none``)."""
    node = cfg.get(group)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        return None
    try:
        # What hydra.utils.get_object calls, without the log line it adds to every failure.
        target = _locate(node._target_)
    except Exception as err:
        raise BCXError(
            f"{group}._target_={node._target_} names no class or function bcx can import "
            f"({type(err.__cause__ or err).__name__}); choose one with {group}=<option>."
        ) from err
    base = _locate(BASES[group]) if group in BASES else None
    if base is not None and not issubclass(_builds(target), base):
        raise BCXError(
            f"{group}._target_ must be {BASES[group]}, a subclass of it or a function annotated "
            f"to return one (got {node._target_!r}); choose one with {group}=<option>."
        )
    return target


def _builds(target: Callable) -> type:
    """The class a target builds: itself, or a function's return annotation (``object`` where it
    has none, so that no call of an arbitrary function, ``print`` or ``os.system``, passes)."""
    if isinstance(target, type):
        return target
    try:
        returns = typing.get_type_hints(target).get("return")
    except Exception:  # a builtin, or an annotation that cannot be evaluated
        returns = None
    return returns if isinstance(returns, type) else object


def _signature(target: Callable) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return {}


def _check_annotations(node: DictConfig, group: str, target: Callable) -> None:
    """Each value fits its parameter's annotation; a ``seed`` is an integer in [0, 2**32)."""
    try:
        hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)
    except Exception:  # an annotation that cannot be evaluated says nothing checkable
        hints = {}
    for key in node:
        if key in HYDRA_KEYS:
            continue
        seed = key == "seed" and group in FAMILIES
        rule = SEED if seed else hint_rule(hints.get(key))
        value = _value(node, key)
        if rule is not None and value is not _ABSENT and value is not _UNRESOLVED:
            rule.check(f"{group}.{key}", value)


def hint_rule(hint: Any) -> Rule | None:
    """The Rule a parameter annotation stands for, or None where it says nothing bcx can check
    (a class, ``Any``, a union with such a member)."""
    if hint is None:
        return None
    if hint is type(None):
        return Rule("null", lambda v: v is None)
    if hint is bool:
        return BOOL
    if hint is int:
        return Rule("an integer", is_int, "integers")
    if hint is float:
        return Rule("a finite number", is_number, "finite numbers")
    if hint in (str, Path):
        return Rule("a string", lambda v: isinstance(v, str), "strings")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return one_of(*map(str, args)) if all(isinstance(a, str) for a in args) else None
    if origin in (Union, UnionType):
        rules = [hint_rule(arg) for arg in args]
        if any(rule is None for rule in rules):
            return None
        words = list(dict.fromkeys(rule.allowed for rule in rules))
        return Rule(" or ".join(words), lambda v: any(rule.test(v) for rule in rules))
    if origin in (list, Sequence) and len(args) == 1:
        item = hint_rule(args[0])
        if item is None or item.plural is None:
            return None
        return Rule(
            f"a list of {item.plural}",
            lambda v: isinstance(v, ListConfig | list) and all(item.test(x) for x in v),
        )
    return None


def nearest(word: str, known: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def _choose(prefix: str, key: str, known: Sequence[str]) -> str:
    """The end of an unknown key's sentence: 'did you mean <prefix><nearest>?', or the keys
    there are when none is near."""
    hint = nearest(key, known)
    if hint is not None:
        return f"did you mean {prefix}{hint}?"
    return f"allowed: {', '.join(prefix + k for k in known)}." if known else "it takes none."


def _shown(value: Any) -> str:
    if isinstance(value, DictConfig | ListConfig):
        return str(OmegaConf.to_container(value))
    return repr(value)
