"""Sweep progress as log lines: each job's start and end, its overrides, and the sweep's tally.

A Hydra callback (``SweepProgress``; register it under ``hydra.callbacks``). Lines rather than a
bar: with the basic launcher the jobs run in this process and draw their own bars, and a line per
job is what a CI or cluster log should hold. The tally is read from the sweep folder (a job that
finished holds ``metrics.json``, one that failed ``failed.json``), so it stays right when a
launcher runs jobs in other processes.

A grid sweep (Hydra's basic sweeper) with a failed job ends with a non-zero exit once every
other job has run. A search (any other sweeper, such as Optuna's) counts a failed trial as one of
its results: it goes on, and its exit stays 0.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from bcx.results.report import failure_reason
from bcx.results.summary import FAILED_FILE, METRICS_FILE

log = logging.getLogger("bcx")


class SweepProgress(Callback):
    """Logs "sweep job 3/12 started: seed=2 env=lane" and "sweep job 3/12 finished in 41.0 s:
    seed=2 env=lane; 3 finished, 0 failed, 9 to go, 2m05s elapsed" for every job of a multirun
    (the job's swept overrides; all of its overrides when the sweeper's plan is not known)."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.swept: set[str] | None = None
        self.sweep_started = 0.0  # wall clock: launchers may run jobs in other processes
        self.job_started = 0.0
        self.crashed = 0  # jobs that raised (no failed.json) among those this process ran

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        counts = value_counts(config)
        if counts is not None:
            self.total = math.prod(counts.values())
            self.swept = {key for key, n in counts.items() if n > 1}
        else:
            self.total = config.hydra.sweeper.get("n_trials")  # an optimizing sweeper's budget
        self.sweep_started = time.time()
        log.info("sweep of %s jobs: %s", self.total or "?", config.hydra.sweep.dir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            self.job_started = time.perf_counter()
            log.info("sweep job %s started: %s", self._number(config), self._overrides(config))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(config.hydra.runtime.output_dir)
        recorded = (job_dir / FAILED_FILE).exists()  # bcx stopped it on bad input or NaN
        crashed = job_return.status == JobStatus.FAILED and not recorded
        self.crashed += int(crashed)
        failed = recorded or crashed
        log.info(
            "sweep job %s %s in %s: %s; %s%s",
            self._number(config),
            "failed" if failed else "finished",
            _duration(time.perf_counter() - self.job_started),
            self._overrides(config),
            self.tally(Path(config.hydra.sweep.dir)),
            f"; error: {failure_reason(job_dir)}" if failed else "",
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        log.info("sweep done: %s (%s)", self.tally(sweep_dir), sweep_dir)
        finished, failed = self.counts(sweep_dir)
        if failed and config.hydra.sweeper._target_.endswith(".BasicSweeper"):
            sys.exit(
                f"bcx: {failed} of {finished + failed} jobs failed (each one's error is in its "
                f"'failed' line above); the finished jobs' results are kept in {sweep_dir}"
            )

    def counts(self, sweep_dir: Path) -> tuple[int, int]:
        """(finished, failed) jobs of the sweep so far."""
        finished = sum(1 for _ in sweep_dir.glob(f"*/{METRICS_FILE}"))
        failed = sum(1 for _ in sweep_dir.glob(f"*/{FAILED_FILE}")) + self.crashed
        return finished, failed

    def tally(self, sweep_dir: Path) -> str:
        """'<n> finished, <m> failed[, <k> to go], <time> elapsed' for the sweep so far."""
        finished, failed = self.counts(sweep_dir)
        to_go = f", {self.total - finished - failed} to go" if self.total is not None else ""
        elapsed = _duration(time.time() - self.sweep_started)
        return f"{finished} finished, {failed} failed{to_go}, {elapsed} elapsed"

    def _number(self, config: DictConfig) -> str:
        return f"{config.hydra.job.num + 1}/{self.total or '?'}"

    def _overrides(self, config: DictConfig) -> str:
        """The job's overrides of swept keys: what tells it from the sweep's other jobs."""
        overrides = [
            o
            for o in config.hydra.overrides.task
            if self.swept is None or o.split("=", 1)[0] in self.swept
        ]
        return " ".join(overrides) or "(no overrides)"


def value_counts(config: DictConfig) -> dict[str, int] | None:
    """For the basic sweeper, how many values each overridden key takes: its params, then the
    command line's overrides (the command line's win for a key, as in the sweeper); the sweep
    runs their product. None for other sweepers, or a glob(...) sweep (expanded only by Hydra's
    config loader)."""
    sweeper = config.hydra.sweeper
    if not sweeper._target_.endswith(".BasicSweeper"):
        return None
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    counts = {}
    try:
        for override in OverridesParser.create().parse_overrides(
            [*params, *config.hydra.overrides.task]
        ):
            values = override.sweep_string_iterator() if override.is_sweep_override() else [0]
            counts[override.get_key_element()] = len(list(values))
    except HydraException:
        return None
    return counts


def _duration(seconds: float) -> str:
    """'41.2 s' under a minute, else '2m05s' or '1h02m'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
