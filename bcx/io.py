"""Files bcx keeps: atomic writes (a reader sees the old file or the complete new one, never a
partial one), and checkpoints that a rerun may find damaged."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
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


def describe(error: BaseException) -> str:
    """``ErrorType: the first sentence of its message``, for a one-line warning."""
    message = str(error).partition("\n")[0].partition(". ")[0]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _remove(tmp: str | None) -> None:
    if tmp is not None:
        Path(tmp).unlink(missing_ok=True)
