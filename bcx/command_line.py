"""The ``bcx`` command line, checked before Hydra runs anything.

Hydra reports its own config errors (an override it cannot parse, a key the config lacks, an
unknown group option) with exit code 1 and several lines, after nothing but before the task;
``check_command_line`` composes the same config once beforehand, so they end as all of bcx's bad
input does: one sentence naming the key and what is allowed, exit code 2. For a single run it
also validates every value (``bcx.config.validate``), so a bad value stops before Hydra creates
the run folder or rewrites an earlier run's ``.hydra/``.

A user's own config folder (``--config-dir my_configs``, or ``hydra.searchpath=[file://...]``) is
searched beside bcx's, as the app searches it: its options compose, are checked and are listed
with bcx's in an unknown-choice error; one that does not exist is named (docs/extending.md).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, version
from hydra._internal.hydra import Hydra
from hydra._internal.utils import _locate, create_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from hydra.experimental.callback import Callback
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bcx.config import validate
from bcx.errors import BCXError
from bcx.results.loggers import check_run_dir
from bcx.schema import allowed_keys, nearest

ENUMERABLE = (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP, ValueType.RANGE_SWEEP)


def check_command_line(argv: Sequence[str], config_dir: str, config_name: str) -> None:
    """Raise BCXError when ``<argv>`` names a key, option or value the config rejects. Hydra's
    own commands (--help, --cfg, --info, another config) are left to Hydra; a multirun is checked
    with the first value of each sweep, and its values job by job, where the app validates."""
    args = get_args_parser().parse_args(list(argv))
    own = (args.help, args.hydra_help, args.cfg, args.info, args.shell_completion)
    other = (args.config_path, args.config_name, args.experimental_rerun)
    if any(own) or any(other):
        return
    user_dir = user_config_dir(args.config_dir)
    parsed = [_parse(line) for line in args.overrides]
    overrides = [line for line in map(_first_value, parsed) if line is not None]
    cfg = compose_checked(config_dir, config_name, overrides, user_dir)
    _check_callbacks(cfg)
    sweeps = any(o.is_sweep_override() for o in parsed)
    multirun = bool(args.multirun or sweeps or cfg.hydra.mode == RunMode.MULTIRUN)
    _require_run_dir_is_hydras(cfg, multirun)
    if multirun:
        return
    validate(cfg)
    # Hydra rewrites <run dir>/.hydra/ as it starts: refuse a finished run's folder before that.
    is_default = OmegaConf.is_interpolation(cfg, "run_dir")
    check_run_dir(cfg.hydra.run.dir if is_default else cfg.run_dir)


def _check_callbacks(cfg: DictConfig) -> None:
    """Every ``hydra.callbacks`` entry names a Hydra Callback class: Hydra calls any other target
    (``print``, ``os.system``) as the app starts, and then only warns that it is no callback."""
    for name, node in (cfg.hydra.get("callbacks") or {}).items():
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        try:
            located = _locate(target) if isinstance(target, str) else None
        except Exception:
            located = None
        if not (isinstance(located, type) and issubclass(located, Callback)):
            raise BCXError(
                f"hydra.callbacks.{name}._target_ must name a subclass of "
                f"hydra.experimental.callback.Callback (got {target!r})."
            )


def _require_run_dir_is_hydras(cfg: DictConfig, multirun: bool) -> None:
    """run_dir set on the command line, to another folder than Hydra's, would split the run:
    metrics and checkpoints in run_dir, .hydra/ and train.log in Hydra's folder (and, in a
    multirun, every job in one run_dir). Python callers of ``bcx.pipeline.run`` set run_dir, with
    no Hydra folder at all; this check is the command line's alone."""
    if OmegaConf.is_interpolation(cfg, "run_dir"):  # the default, ${hydra:runtime.output_dir}
        return
    if multirun:
        raise BCXError(
            f"run_dir={cfg.run_dir} would put every job of this multirun in one folder, apart "
            "from the job folders Hydra writes their .hydra/ and train.log to; set "
            "hydra.sweep.dir=<folder> instead (each job then runs in <folder>/<job number>)."
        )
    if Path(cfg.run_dir).resolve() != Path(cfg.hydra.run.dir).resolve():
        raise BCXError(
            f"run_dir={cfg.run_dir} would split the run: metrics and checkpoints there, .hydra/ "
            f"and train.log in Hydra's run folder {cfg.hydra.run.dir}; set "
            f"hydra.run.dir={cfg.run_dir} instead (run_dir follows it)."
        )


def _parse(line: str) -> Override:
    try:
        return OverridesParser.create().parse_override(line)
    except HydraException as err:
        reason = str(err).split("\nSee ")[0].strip()
        raise BCXError(
            f"{line} is not a valid override ({reason}); the grammar: "
            "https://hydra.cc/docs/advanced/override_grammar/basic/."
        ) from err


def _first_value(override: Override) -> str | None:
    """The override as one value: a choice or range sweep's first; None for a sweep that cannot
    be enumerated (an Optuna interval), whose key the first job checks."""
    if not override.is_sweep_override():
        return override.input_line
    if override.value_type not in ENUMERABLE:
        return None
    first = next(iter(override.sweep_string_iterator()), None)
    return None if first is None else f"{override.get_key_element()}={first}"


def user_config_dir(folder: str | Path | None, named: str = "--config-dir ") -> Path | None:
    """A user's ``--config-dir`` as an absolute folder, as Hydra's app takes it (relative to the
    working folder); BCXError naming it (``named``: how the caller spells the option) when it
    is not a folder."""
    if folder is None:
        return None
    path = Path(folder).absolute()  # as Hydra takes it: no ~ expansion
    if not path.is_dir():
        what = "a file" if path.exists() else "no such folder"
        raise BCXError(
            f"{named}{folder} is not a folder of configs ({path}: {what}); give the folder "
            "that holds your config groups, e.g. my_configs with my_configs/policy/my_head.yaml."
        )
    return path


@contextmanager
def initialized(config_dir: str, user_dir: Path | None = None) -> Iterator[None]:
    """Hydra initialized on bcx's config folder, with a user's ``--config-dir`` searched after
    it, where Hydra's app puts it (so a user's option adds to bcx's, and never shadows one)."""
    backup = get_gh_backup()
    try:
        version.setbase("1.3")
        search_path = create_config_search_path(config_dir)
        if user_dir is not None:
            search_path.prepend(
                provider="command-line",
                path=f"file://{user_dir}",
                anchor=SearchPathQuery(provider="schema"),
            )
        Hydra.create_main_hydra2(task_name="app", config_search_path=search_path)
        yield
    finally:
        restore_gh_from_backup(backup)


def _check_searchpath(overrides: list[str]) -> None:
    """Every entry of a ``hydra.searchpath=[...]`` override names a folder (``file://``) or an
    importable package (``pkg://``): Hydra only warns about one it cannot find, then reports
    the user's options in it as unknown."""
    for line in overrides:
        override = _parse(line)
        if override.get_key_element() != "hydra.searchpath":
            continue
        entries = override.value()
        for entry in entries if isinstance(entries, list) else []:
            scheme, _, where = str(entry).partition("://")
            if scheme == "file" and not Path(where).is_dir():
                problem = f"{Path(where).absolute()} is not a folder"
            elif scheme == "pkg" and not _importable(where):
                problem = f"no package {where} can be imported"
            else:
                continue
            raise BCXError(
                f"hydra.searchpath names {entry}, but {problem}; give folders that hold your "
                "config groups (file://<folder>) or packages (pkg://<package>)."
            )


def _importable(package: str) -> bool:
    try:
        return bool(package) and importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a parent package that is missing or fails to import
        return False


def compose_checked(
    config_dir: str, config_name: str, overrides: list[str], user_dir: Path | None = None
) -> DictConfig:
    """The composed config (with Hydra's own node); Hydra's composition errors as one BCXError
    sentence naming the key or option (the Python API composes through this too). user_dir: a
    user's config folder searched after ``config_dir`` (``user_config_dir``)."""
    _check_searchpath(overrides)
    with initialized(config_dir, user_dir):
        try:
            return compose(config_name, overrides=overrides, return_hydra_config=True)
        except MissingConfigException as err:
            raise BCXError(_missing_option(err)) from err
        except ConfigCompositionException as err:
            key = _unknown(err)
            if key is None:
                raise BCXError(one_line(err)) from err
            raise BCXError(_unknown_key(key, _compose_known(config_name, overrides))) from err
        except (HydraException, OmegaConfBaseException) as err:
            raise BCXError(one_line(err)) from err


def _unknown(err: Exception) -> str | None:
    """The key of Hydra's 'Could not override' error: a key the config lacks."""
    found = re.match(r"Could not override '([^']+)'", str(err))
    return found[1] if found else None


def _compose_known(config_name: str, overrides: list[str]) -> DictConfig:
    """The config without the overrides of keys it lacks, to find the keys it has."""
    while True:
        try:
            return compose(config_name, overrides=overrides)
        except ConfigCompositionException as err:
            key = _unknown(err)
            if key is None:
                raise
            overrides = [o for o in overrides if not o.startswith(f"{key}=")]


def _missing_option(err: MissingConfigException) -> str:
    """``env=nope`` -> 'env=nope is not an option of env; did you mean ...? options: ...'."""
    if not err.missing_cfg_file or not err.options:
        return one_line(err)
    group, _, name = err.missing_cfg_file.rpartition("/")
    options = sorted(err.options)
    near = nearest(name, options)
    hint = f"did you mean {group}={near}? " if near else ""
    return f"{group}={name} is not an option of {group}; {hint}options: {', '.join(options)}."


def _unknown_key(key: str, cfg: DictConfig) -> str:
    """A key Hydra could not override: the nearest key beside it; else the keys bcx takes
    there, or, where any key may be added (env.kwargs), how to add one."""
    section, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, section) if section else cfg
    known = allowed_keys(cfg, section)
    where = f"of {section}" if section else "of bcx's config"
    prefix = f"{section}." if section else ""
    near = nearest(leaf, known if known is not None else list(node or ()))
    if near is not None:
        return f"{key} is not a key {where}; did you mean {prefix}{near}?"
    if known is not None:
        return f"{key} is not a key {where}; allowed: {', '.join(prefix + k for k in known)}."
    return f"{key} is not a key {where}; to add a new key, write +{key}=<value>."


def one_line(err: Exception) -> str:
    """Hydra's multi-line message as one sentence."""
    lines = [line.strip().rstrip(".") for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) + "."
