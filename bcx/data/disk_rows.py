"""An array that stays in its file and is read a few rows at a time: a large pixel dataset.

Training draws random rows; holding a 100k-frame dataset in memory (or memory-mapping it, which
the kernel fills 16 pages around every row read, all counted as the process's resident memory)
would cost the whole dataset. Reading just the rows a batch needs with ``pread`` keeps resident
memory to the batch; the kernel's page cache, which it may reclaim, keeps rereads fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class DiskRows:
    """Rows [start, stop) of an (N, ...) C-ordered array stored raw in ``path`` from byte
    ``offset`` on. Indexing by a slice gives another DiskRows (a view: nothing is read); by an
    integer or an integer array (any shape) reads those rows into a new ndarray; ``np.asarray``
    reads them all. Read-only: the file never changes."""

    def __init__(
        self, path: str | Path, offset: int, shape: tuple[int, ...], dtype: np.dtype
    ) -> None:
        self.path, self.offset, self.dtype = Path(path), offset, np.dtype(dtype)
        # Held open: the rows stay those of this file even if a new file is renamed over it.
        self.file = open(self.path, "rb", buffering=0)  # noqa: SIM115 (lives with the object)
        self.row_shape = tuple(shape[1:])
        self.start, self.stop = 0, shape[0]
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.stop - self.start, *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def __len__(self) -> int:
        return self.stop - self.start

    def __reduce__(self) -> tuple:  # a copy in another process opens the file anew
        return _reopened, (
            self.path,
            self.offset,
            (self.stop, *self.row_shape),
            self.dtype,
            self.start,
        )

    def __repr__(self) -> str:
        return f"DiskRows({self.path}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, index: Any) -> DiskRows | np.ndarray:
        if isinstance(index, slice):
            first, last, step = index.indices(len(self))
            if step != 1:
                return self.read(np.arange(first, last, step))
            view = object.__new__(DiskRows)  # shares the open file
            view.__dict__.update(self.__dict__)
            view.start, view.stop = self.start + first, self.start + max(first, last)
            return view
        if isinstance(index, (int, np.integer)):
            return self.read(np.array([index]))[0]
        return self.read(np.asarray(index))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.read(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows at ``rows`` (an integer array of any shape, negatives from the end):
        (*rows.shape, *row_shape). Runs of consecutive rows are read with one call each."""
        if rows.dtype.kind not in "iu":
            raise IndexError(f"rows must be integers, not {rows.dtype}")
        flat = rows.reshape(-1).astype(np.int64)
        flat = np.where(flat < 0, flat + len(self), flat)
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        wanted, where = np.unique(flat, return_inverse=True)
        got = np.empty((len(wanted), self.row_bytes), dtype=np.uint8)
        # Runs: split the sorted rows where they stop being consecutive.
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        for run in np.split(np.arange(len(wanted)), breaks):
            if run.size:
                self._read_run(int(wanted[run[0]]), got[run[0] : run[-1] + 1])
        values = got.view(self.dtype).reshape(len(wanted), *self.row_shape)
        return values[where].reshape(*rows.shape, *self.row_shape)

    def _read_run(self, first_row: int, into: np.ndarray) -> None:
        position = self.offset + (self.start + first_row) * self.row_bytes
        view = memoryview(into).cast("B")
        while view:  # pread may return less than asked
            count = os.preadv(self.file.fileno(), [view], position)
            if count == 0:
                raise EOFError(f"{self.path} ends before row {first_row} of its array")
            view, position = view[count:], position + count


def _reopened(
    path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, start: int
) -> DiskRows:
    return DiskRows(path, offset, shape, dtype)[start:]
