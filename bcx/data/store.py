"""On-disk cache of demonstrations, keyed by everything that determines them.

Files are written to a temporary name in the same folder and renamed into place, so parallel
sweep jobs either see a complete file or none, and a crash never leaves a half-written one. A
file damaged anyway (zeroed, truncated by a full disk) is treated as absent, with a warning naming
it, and replaced: a rerun heals it rather than failing on it.

Images stay where they lie in the file (``np.savez`` stores its members uncompressed) and are
read a batch's rows at a time (``DiskRows``), so a large pixel dataset is never held whole in
memory; every member's checksum is still verified once on load.

Processes that want the same demonstrations at the same time collect them once: the first takes
the file's lock (``.<name>.lock`` beside it) while it collects and writes, the others wait for it
and then read its file. Where no lock can be taken (a folder bcx may only read), each collects
its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from bcx.data.demos import FRAMES, Demonstrations
from bcx.data.disk_rows import DiskRows
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
        demos = Demonstrations.from_arrays(read_npz(path, on_disk=_is_image))
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
    # Read back what was written: the collected images are freed for rows read from the file,
    # and the first run trains on exactly the arrays later runs will read.
    written = load(path)
    return (demos if written is None else written), False


def read_npz(path: Path, on_disk: Callable[[str], bool]) -> dict[str, np.ndarray | DiskRows]:
    """The arrays of an ``np.savez`` file by name: those whose name ``on_disk`` accepts left in
    the file as DiskRows (read a few rows at a time), the rest read. Raises
    ``zipfile.BadZipFile`` when a member's checksum fails: leaving it on disk skips the check
    that reading makes, so it is made here, streaming, without keeping the bytes."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = member.filename.removesuffix(".npy")
            if on_disk(name) and member.compress_type == zipfile.ZIP_STORED:
                _verify(archive, member)
                arrays[name] = _rows_on_disk(path, member)
            else:
                with archive.open(member) as stream:
                    arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays


def _verify(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    with archive.open(member) as stream:  # zipfile checks the CRC when the stream ends
        while stream.read(1 << 24):
            pass


def _rows_on_disk(path: Path, member: zipfile.ZipInfo) -> DiskRows | np.ndarray:
    """A stored (uncompressed) ``.npy`` member of a zip, left where its bytes lie."""
    with open(path, "rb") as file:
        file.seek(member.header_offset)
        header = file.read(30)  # the local file header; its name and extra field follow
        if header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {member.filename}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        npy_start = member.header_offset + 30 + name_length + extra_length
        file.seek(npy_start)
        version = np.lib.format.read_magic(file)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read_header is None:
            raise ValueError(f"{member.filename}: unsupported .npy version {version}")
        shape, fortran_order, dtype = read_header(file)
        if fortran_order or not shape:  # not rows laid end to end: read it whole
            file.seek(npy_start)
            return np.lib.format.read_array(file, allow_pickle=False)
        return DiskRows(path, file.tell(), shape, dtype)


def _is_image(name: str) -> bool:
    return name.startswith(FRAMES)


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
