"""Stop signals: a run that a scheduler stops saves where a rerun resumes, and says so.

SIGTERM (kill, docker stop, Kubernetes, CI runners, SLURM at its time limit), SIGUSR1 and SIGUSR2
(SLURM's and submitit's warnings before the limit) end a run with exit 128 + the signal's number
and one line saying what was kept; during a fit, ``bcx.rounds.SaveProgress`` first saves the
mid-fit checkpoint at the end of the current step.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bcx.errors import RERUN, Stopped


class StopSignals:
    """While a run is inside ``with StopSignals() as signals:``, SIGTERM, SIGUSR1 and SIGUSR2
    stop it (kill, docker stop, Kubernetes and CI runners send SIGTERM; SLURM sends SIGUSR1 or 2
    before its time limit with ``--signal``). Outside a fit the handler raises ``Stopped`` at
    once: everything bcx keeps is written atomically. During one (``fitting``) the fit stops at
    the end of its current step, after ``SaveProgress`` has saved the mid-fit checkpoint there,
    the point a rerun resumes from exactly.

    A handler the signal had before (a launcher's: submitit requeues its job on SIGUSR2 and logs
    SIGTERM) still runs, once bcx has saved: one that requeues the job and exits ends the run its
    own way, and the requeued job resumes from the save. An ignored signal stays ignored, and
    SIGUSR1 in a SLURM job stays Lightning's, whose auto-requeue saves and requeues on it.
    Nothing is installed off the main thread, where Python cannot."""

    NAMES = ("SIGTERM", "SIGUSR1", "SIGUSR2")

    def __init__(self) -> None:
        self.pending: int | None = None  # a signal received during a fit, not yet acted on
        self.in_fit = False
        self._previous: dict[int, Any] = {}  # the handlers this replaced, by signal
        self._lightning: Any = None  # Lightning's SIGTERM handler for the current fit

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        left = {"SIGUSR1"} if _slurm_job() else set()
        for name in self.NAMES:
            signum = getattr(signal, name, None)  # SIGUSR1/2 do not exist on Windows
            if name in left or signum is None:
                continue
            handler = signal.getsignal(signum)
            if handler == signal.SIG_DFL or callable(handler):
                self._previous[signum] = signal.signal(signum, self._receive)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _receive(self, signum: int, frame: Any) -> None:
        if self.in_fit:
            self.pending = signum
        else:
            raise self.stop(signum, f"; {RERUN}")

    @contextmanager
    def fitting(self) -> Iterator[None]:
        """A fit runs in the body: a signal stops it at the end of a step (``SaveProgress``);
        one that came after its last step stops the run as the fit returns."""
        self.in_fit, self.pending = True, None
        try:
            yield
        finally:
            self.in_fit, self._lightning = False, None
        if self.pending is not None:
            self._receive(self.pending, None)

    def take_sigterm(self) -> None:
        """Called as the fit starts training. Lightning's SIGTERM handler, registered for the
        fit, would stop it later in the step than ``SaveProgress`` saves, where a rerun could not
        resume exactly: SIGTERM comes here for the fit (Lightning restores this handler after
        it), and ``stop`` passes it on to Lightning's handler, which also signals the processes
        a launcher started."""
        term = signal.SIGTERM
        if term in self._previous and signal.getsignal(term) is not self._receive:
            self._lightning = signal.signal(term, self._receive)

    def stop(self, signum: int, outcome: str) -> Stopped:
        """The stop ``signum`` asks for, told with ``outcome`` (what was kept), once the
        handlers it replaced (Lightning's for the fit, the one before bcx's) have run."""
        for handler in (self._lightning, self._previous.get(signum)):
            if callable(handler):
                handler(signum, None)
        return Stopped(f"stopped by {signal.Signals(signum).name}", 128 + signum, outcome)


def _slurm_job() -> bool:
    """Whether Lightning takes this process for a SLURM job, and so SIGUSR1 for its auto-requeue
    (``SLURMEnvironment.detect``'s rule, without its warning when srun is installed)."""
    interactive = os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")
    return "SLURM_NTASKS" in os.environ and not interactive
