"""Progress bars on bcx's long loops: collecting episodes and rolling out policies.

One rule for every bar: it is drawn only when switched on (``trainer.enable_progress_bar``) and
the console is a terminal. In CI logs, captured test output and jobs whose stdout is a file no bar
is even built, and rollouts run exactly as without one. Bars go to rich's global console, the one
Lightning's RichProgressBar draws on, so a rollout measured during training shows under the
training bar (rich nests live displays); every bar vanishes when its loop ends, and the logs keep
the record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich import get_console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bcx.rollout import StepHook

REFRESH_PER_SECOND = 4  # redraws, and pushes to the bar between episode ends


def shown(enabled: bool = True) -> bool:
    """Whether to draw bars: switched on and writing to a terminal (rich's test of the console,
    which also honours TTY_COMPATIBLE and FORCE_COLOR)."""
    return enabled and get_console().is_terminal


@contextmanager
def episode_bar(label: str, episodes: int, enabled: bool = True) -> Iterator[StepHook | None]:
    """A bar of ``episodes`` finished episodes and env steps taken while the block runs. Yields
    the hook for ``rollout(on_step=...)``, or None when no bar is shown."""
    if not shown(enabled):
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),  # leaves the label room in 80 columns
        MofNCompleteColumn(),
        TextColumn("{task.fields[steps]} env steps"),
        TimeElapsedColumn(),
        console=get_console(),
        transient=True,
        refresh_per_second=REFRESH_PER_SECOND,
    ) as bar:
        yield _BarHook(bar, bar.add_task(label, total=episodes, steps=0))


class _BarHook:
    """Adds up what rollout reports and hands the sums to the bar when an episode ends or a
    refresh period has passed, so a batched step costs two additions, not a locked rich update."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar, self.task = bar, task
        self.ended = self.steps = 0
        self.next_push = 0.0

    def __call__(self, ended: int, steps: int) -> None:
        self.ended += ended
        self.steps += steps
        now = time.monotonic()
        if ended or now >= self.next_push:
            self.bar.update(self.task, completed=self.ended, steps=self.steps)
            self.next_push = now + 1 / REFRESH_PER_SECOND
