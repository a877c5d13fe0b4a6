"""On-disk cache of demonstrations, keyed by everything that determines them.

Files are written to a temporary name in the same folder and renamed into place, so parallel
sweep jobs either see a complete file or none, and a crash never leaves a half-written one. A
file damaged anyway (zeroed, truncated by a full disk) is treated as absent, with a warning naming
it, and replaced: a rerun heals it rather than failing on it.

Processes that want the same demonstrations at the same time collect them once: the first takes
the file's lock (``.<name>.lock`` beside it) while it collects and writes, the others wait for it
and then read its file. Where no lock can be taken (a folder bcx may only read), each collects
its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from bcx.data.demos import Demonstrations
from bcx.io import atomic_write, describe, locked

FORMAT_VERSION = 1  # bump when collection changes what the same key would produce
log = logging.getLogger(__name__)


def cache_path(cache_dir: str | Path, key: dict[str, Any], stem: str) -> Path:
    """``<cache_dir>/<stem>-<hash of key>.npz``; the key must be JSON-serializable."""
    blob = json.dumps({"format": FORMAT_VERSION, **key}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{stem}-{digest}.npz"


def save(demos: Demonstrations, path: Path) -> None:
    atomic_write(path, lambda f: write_npz(f, demos))


def write_npz(file: IO[bytes], demos: Demonstrations) -> None:
    np.savez(file, **demos.as_arrays())


def load(path: Path) -> Demonstrations | None:
    """The demonstrations saved at ``path``, or None when there are none: the file is missing,
    or it is damaged (empty, truncated, arrays that do not fit together), which a warning naming
    the file says. Either way the caller makes them afresh and its save replaces the file."""
    try:
        with np.load(path) as arrays:
            demos = Demonstrations.from_arrays({name: arrays[name] for name in arrays.files})
        problem = _mismatch(demos)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        problem = describe(err)
    if problem is None:
        return demos
    log.warning("%s is damaged (%s); treating it as absent", path, problem)
    return None


def load_or_create(path: Path, create: Callable[[], Demonstrations]) -> tuple[Demonstrations, bool]:
    """(demos, reused): read the cache, or create the demonstrations and save them there, holding
    the file's lock meanwhile: another process after the same file waits, then reads it. A cache
    that cannot be written (a full disk, a read-only folder) costs only the reuse: a warning
    says so and the caller goes on with the demonstrations just made."""
    cached = load(path)
    if cached is not None:
        return cached, True
    with ExitStack() as held:
        try:
            held.enter_context(
                locked(path.with_name(f".{path.name}.lock"), wait=True, waiting=_waiting(path))
            )
        except OSError as err:  # the folder cannot be written: the save below will warn
            log.debug("collecting without a lock on %s (%s)", path, describe(err))
        cached = load(path)  # written by the process this one waited for
        if cached is not None:
            return cached, True
        demos = create()
        try:
            save(demos, path)
        except OSError as err:
            log.warning(
                "could not cache the demonstrations (%s); going on without the cache: the next "
                "run of this config collects them again",
                err,
            )
    return demos, False


def _waiting(path: Path) -> Callable[[str], None]:
    def say(holder: str) -> None:
        log.info("waiting for another bcx process (%s) collecting %s, to reuse it", holder, path)

    return say


def _mismatch(demos: Demonstrations) -> str | None:
    """How the arrays fail to fit together as Demonstrations, or None when they do."""
    steps, lengths = len(demos.obs), demos.episode_lengths
    images = all(i.shape[:1] == (steps,) and i.dtype == np.uint8 for i in demos.frames.values())
    if (
        demos.obs.ndim == 2
        and images
        and demos.actions.shape[:1] == (steps,)
        and demos.actions.ndim == 2
        and lengths.ndim == 1
        and int(lengths.sum()) == steps
        and demos.returns.shape == lengths.shape
    ):
        return None
    return (
        f"obs {demos.obs.shape}, actions {demos.actions.shape}, episode_lengths summing to "
        f"{int(lengths.sum())} and returns {demos.returns.shape} do not fit together"
    )
