"""Files bcx keeps: atomic writes (a reader sees the old file or the complete new one, never a
partial one), checkpoints that a rerun may find damaged, folders checked writable before any work,
and locks that keep two processes from writing the same files at once."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on a temp file in ``path``'s folder, then rename it into place.

    The file gets the mode a plain ``open`` would give it (0666 less the umask), so a cache or
    sweep folder shared between users stays readable. An OSError (a full disk, a read-only
    folder) names ``path`` and leaves any earlier file there unchanged.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes it 0600: private to its owner
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        if err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err  # its subclass, by errno
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def umask() -> int:
    """The process's file-mode creation mask, read without changing it where Linux allows
    (setting it, even briefly, would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def readable_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a checkpoint torch can load (a dict with a ``state_dict``).

    False for a missing file; for a damaged one (truncated by a full disk, zeroed) also a
    warning naming it, so a caller treats it as absent and starts afresh, which overwrites it.
    """
    path = Path(path)
    if not path.is_file():
        return False
    import torch  # only callers that resume training need it

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (whatever fails to load, the file is damaged)
        reason = describe(err)
    else:
        if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
            return True
        reason = "it holds no state_dict"
    log.warning("%s is not a readable checkpoint (%s); treating it as absent", path, reason)
    return False


def unwritable(folder: str | Path) -> str | None:
    """Why bcx cannot write files in ``folder``, or None when it can. A missing folder is judged
    by its nearest existing parent, where it would be created; nothing is left behind."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        return f"{existing} is not a folder" if existing == folder else f"{existing} is a file"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".bcx-write-test.")
    except OSError as err:
        return describe(err)
    os.close(fd)
    Path(probe).unlink(missing_ok=True)
    return None


class Held(Exception):
    """Another process holds the lock; the message says who (``pid 12 on host node1``)."""


# Lock files this process holds, by path: a check for another holder must not count this one.
_held: dict[Path, int] = {}
# How long taking a lock without waiting retries, for a check (``holder``) holding it briefly.
PATIENCE_S = 0.5


@contextmanager
def locked(
    path: str | Path, *, wait: bool = False, waiting: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` for the body; raise ``Held`` when another
    process holds it, or with ``wait`` wait for it (calling ``waiting(holder)`` first).

    The kernel releases a ``flock`` when its process dies, however it dies, so a killed run leaves
    no stale lock. The file names its holder for another process's message, is created (with its
    folder) and removed again on release; a process that opened it just before the removal finds
    it no longer at ``path`` and locks the new one. Held already by this process, the lock is
    entered again. An OSError (a read-only folder) propagates.
    """
    path = Path(os.path.realpath(path))  # one name per file, for _held
    if path in _held:  # this process holds it already (an outer claim), which releases it
        yield
        return
    fd = _acquire(path, wait, waiting)
    _held[path] = fd
    try:
        yield
    finally:
        del _held[path]
        path.unlink(missing_ok=True)  # before closing, so nobody locks a file about to go
        os.close(fd)


def holder(path: str | Path) -> str | None:
    """Who holds the lock file ``path`` (``pid 12 on host node1``), or None when no other live
    process does. Checks with a shared lock, which only a holder's exclusive one blocks."""
    path = Path(os.path.realpath(path))  # one name per file, for _held
    if path in _held:
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:  # no lock file, or one this process may not lock: nobody to name
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_of(fd)
    finally:
        os.close(fd)
    return None


def _acquire(path: Path, wait: bool, waiting: Callable[[str], None] | None) -> int:
    """The descriptor of ``path``, locked exclusively, with this process named in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    patience = time.monotonic() + PATIENCE_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    if time.monotonic() < patience:
                        os.close(fd)
                        time.sleep(0.02)
                        continue
                    raise Held(_holder_of(fd)) from None
                if waiting is not None:
                    waiting(_holder_of(fd))
                    waiting = None
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}".encode(), 0)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed it as it let go: lock the file now at path


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder_of(fd: int) -> str:
    named = os.pread(fd, 200, 0).decode(errors="replace").strip()
    return named or "another process"


def describe(error: BaseException) -> str:
    """``ErrorType: the first sentence of its message``, for a one-line warning."""
    message = str(error).partition("\n")[0].partition(". ")[0]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _remove(tmp: str | None) -> None:
    if tmp is not None:
        Path(tmp).unlink(missing_ok=True)
