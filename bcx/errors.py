"""How bcx commands end early: ``BCXError`` for bad input (exit 2), ``Stopped`` for a run stopped
from outside (a signal or Ctrl-C; exit 128 + the signal's number)."""

from __future__ import annotations

import errno
import sys
from typing import NoReturn


class BCXError(Exception):
    """A user-facing error: its message is one paragraph naming the key and the allowed values."""


def exit_with(program: str, error: BCXError) -> NoReturn:
    """How every bcx command ends on bad input: ``<program>: error: <message>``, exit code 2."""
    print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)


# What rerunning does when a run stopped outside a fit step: everything bcx keeps is written
# atomically, so the last complete save (or none) is there.
RERUN = "rerun the same command to continue from the last saved checkpoint (or afresh if none)"


class Stopped(BaseException):
    """A run stopped from outside before it finished. Not an ``Exception``, so that no handler
    meant for errors swallows it. Its message says what stopped it, what was kept and what
    rerunning does; ``code`` is the exit status, 128 + the signal's number (130 for Ctrl-C, 143
    for SIGTERM), as a shell reports a process the signal killed."""

    def __init__(self, cause: str, code: int, outcome: str = f"; {RERUN}") -> None:
        """cause: "stopped by SIGTERM" or "interrupted"; outcome: the rest of the sentence."""
        super().__init__(f"{cause}{outcome}")
        self.cause, self.code = cause, code

    def during(self, outcome: str) -> Stopped:
        """The same stop, told with what the interrupted part of the run kept."""
        return Stopped(self.cause, self.code, outcome)


# The errors that mean "no room to write": a full disk, a full quota, a file-size limit.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# The exit status of a run stopped because a file could not be written (sysexits' EX_IOERR).
NO_ROOM_EXIT = 74


def no_room(error: BaseException, folder: str) -> str | None:
    """The one line that tells what happened when ``error`` (or an error it was raised from) is
    a full disk, quota or file-size limit, naming the file (or else ``folder``); None for any
    other error."""
    while error is not None and not (isinstance(error, OSError) and error.errno in NO_ROOM):
        error = error.__cause__ or error.__context__
    if error is None:
        return None
    where = error.filename or f"a file in {folder}"
    return (
        f"could not write {where}: {error.strerror} (a full disk, a quota or a file-size limit); "
        f"the run stopped, and every file bcx saved before is whole. Free space and {RERUN}."
    )
