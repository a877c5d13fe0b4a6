"""The Hydra app: the ``bcx`` command composes the config, calls the pipeline
(``bcx.pipeline.run``) and turns its errors and stops into exit codes.

Run it as ``bcx <overrides>`` or ``python -m bcx <overrides>``. ``run`` and ``CONF_DIR`` stay
importable from here for users' scripts written before the pipeline had a module of its own.
"""

from __future__ import annotations

import logging
import math
import sys
import traceback
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException

from bcx.command_line import check_command_line
from bcx.conf_dir import CONF_DIR
from bcx.errors import NO_ROOM_EXIT, BCXError, Stopped, exit_with, no_room
from bcx.io import atomic_write_json
from bcx.pipeline import launch_paths, run
from bcx.quiet import quiet
from bcx.results.loggers import held_run_dir
from bcx.results.summary import FAILED_FILE
from bcx.signals import StopSignals

__all__ = ["CONF_DIR", "cli", "main", "run"]  # run, CONF_DIR: kept for users' scripts

log = logging.getLogger("bcx")


def cli() -> None:
    """The ``bcx`` command: the command line checked first (Hydra's own config errors and bad
    values end with one line and exit 2 before Hydra creates or rewrites a run folder), then the
    Hydra app, holding the run folder the command names (``named_run_dir``)."""
    try:
        check_command_line(sys.argv[1:], CONF_DIR, "train")
        folder = named_run_dir(sys.argv[1:])
        # Held from before Hydra writes the folder's .hydra/ and train.log: of two runs given
        # the same folder, the second stops here, before it has touched the first's files.
        with held_run_dir(folder) if folder is not None else nullcontext():
            main()
    except BCXError as error:
        exit_with("bcx", error)


def named_run_dir(argv: list[str]) -> str | None:
    """The folder a single run's command line names with ``hydra.run.dir=<folder>`` (none with
    an interpolation, such as the default's ``${now:...}``, which Hydra resolves anew), or None;
    None for any command with an option (``-m``, ``--cfg``, ...)."""
    if any(arg.startswith("-") for arg in argv):
        return None
    for override in OverridesParser.create().parse_overrides(argv):
        value = override.value()
        if override.key_or_group == "hydra.run.dir" and isinstance(value, str):
            return None if "${" in value else value
    return None


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float] | float | None:
    """The final metrics; a sweeper that optimizes (``optimized_metric``) gets that one value.

    Bad input ends a run with ``bcx: error: ...`` and exit 2; a signal or Ctrl-C with one line
    saying what was kept and exit 128 + the signal's number. In a multirun a failed job, whatever
    the exception, leaves failed.json (its error and traceback) and the sweep goes on; the sweep
    ends non-zero (``bcx.results.sweep_progress``)."""
    quiet()
    sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
    launch_paths(cfg, HydraConfig.get().runtime.cwd)
    try:
        with StopSignals() as signals:
            return sweep_value(cfg, run(cfg, signals))
    except (Stopped, KeyboardInterrupt, SIGTERMException) as stop:
        # Ctrl-C outside a fit (Lightning handles it in one); SIGTERM in a fit where bcx could
        # not take it over (a launcher's own handler), which Lightning ends with exit 0.
        if not isinstance(stop, Stopped):
            cause = "interrupted" if isinstance(stop, KeyboardInterrupt) else "stopped by SIGTERM"
            stop = Stopped(cause, 130 if isinstance(stop, KeyboardInterrupt) else 143)
        print(f"bcx: {stop}", file=sys.stderr)
        if sweeping:
            record_failure(cfg, stop)
        sys.exit(stop.code)  # the whole sweep stops, as one run does
    except BCXError as error:
        if not sweeping:
            exit_with("bcx", error)
        print(f"bcx: error: {error}", file=sys.stderr)
        failure: Exception = error
    except Exception as error:
        if (line := no_room(error, cfg.run_dir)) is not None:
            print(f"bcx: {line}", file=sys.stderr)
            if sweeping:
                record_failure(cfg, error)
            sys.exit(NO_ROOM_EXIT)  # the sweep's other jobs would need the same room
        if not sweeping:
            raise
        log.exception("sweep job failed: %s: %s", type(error).__name__, error)
        failure = error
    # A failed sweep job: the sweep goes on to its other jobs and its report, which list this
    # one as failed with its error, and ends with a non-zero exit.
    record_failure(cfg, failure)
    return sweep_value(cfg, {})


def record_failure(cfg: DictConfig, error: BaseException) -> None:
    """failed.json in the run folder: the error's message (with its type, for an unexpected
    one) and its traceback. A disk too full to hold it costs only the file."""
    expected = isinstance(error, BCXError | Stopped)
    try:
        atomic_write_json(
            Path(cfg.run_dir) / FAILED_FILE,
            {
                "error": str(error) if expected else f"{type(error).__name__}: {error}",
                "traceback": "".join(traceback.format_exception(error)),
            },
        )
    except OSError as unwritten:
        log.warning("could not write %s: %s", FAILED_FILE, unwritten)


def sweep_value(cfg: DictConfig, metrics: dict[str, float]) -> dict[str, float] | float | None:
    """``metrics``, or just ``metrics[cfg.optimized_metric]`` when a sweeper optimizes it. None
    for a failed job or a NaN value: the Optuna sweeper records a failed trial and goes on,
    where a NaN would abort the whole search (optuna 2.10 rejects it; hydra issue #2237)."""
    name = cfg.get("optimized_metric")
    if not name:
        return metrics
    if metrics and name not in metrics:
        raise BCXError(
            f"optimized_metric={name} is not a metric of this run; it logs: "
            f"{', '.join(sorted(metrics))}."
        )
    value = metrics.get(name, math.nan)
    return None if math.isnan(value) else value


if __name__ == "__main__":
    cli()
