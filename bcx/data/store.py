"""On-disk cache of demonstrations, keyed by everything that determines them.

Files are written to a temporary name in the same folder and renamed into place, so parallel
sweep jobs either see a complete file or none, and a crash never leaves a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from bcx.data.demos import Demonstrations
from bcx.io import atomic_write

FORMAT_VERSION = 1  # bump when collection changes what the same key would produce


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
    """The cached demonstrations, or None when the file is missing or unreadable."""
    try:
        with np.load(path) as arrays:
            return Demonstrations(**{name: arrays[name] for name in arrays.files})
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


def load_or_create(path: Path, create: Callable[[], Demonstrations]) -> tuple[Demonstrations, bool]:
    """(demos, reused): read the cache, or create and save it."""
    cached = load(path)
    if cached is not None:
        return cached, True
    demos = create()
    save(demos, path)
    return demos, False
