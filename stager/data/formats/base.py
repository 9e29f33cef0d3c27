"""Sources: one split's inputs or labels, read in blocks of bounded size.

A source numbers its samples 0..length-1 across all the files ("parts") of the
split, in order.  ``blocks`` walks every sample once; ``take`` reads chosen
samples again (to confirm duplicates).  A block never spans two parts and holds
samples of one shape, so a split whose images differ in size still comes out as
ordinary arrays.

What a source finds wrong while reading (a file that stops early, an image that
does not decode) is appended to ``problems`` instead of raised, so one broken
file never hides the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

# dtype kinds the checks can compute on: bool, signed, unsigned, float
NUMERIC_KINDS = "biuf"


@dataclass
class Block:
    indices: np.ndarray  # split-level sample indices of the rows of x, ascending
    x: np.ndarray  # (len(indices), *sample shape)
    part: int = 0  # which file of the split the rows come from


@dataclass(frozen=True)
class SourceProblem:
    check: str  # the check that reports it: "files" or "shapes"
    file: str  # relative to the dataset root
    message: str  # one line, without the file name
    indices: tuple[int, ...] = ()  # split-level samples affected, when known (the first few)
    count: int | None = None  # samples affected in all, when more than ``indices`` lists
    level: str | None = None  # "info" for a note that never fails; None: the check's level


class FileProblem(Exception):
    """A file that cannot be read as what its name says; the message is one line without the path."""


class Source:
    """Samples of one split; subclasses implement ``_blocks`` and ``_take``."""

    has_sample_names = False  # True where every sample is a file of its own (image folders)

    def __init__(self, parts: list[str], lengths: list[int], sample_shape: tuple[int, ...], dtype: np.dtype):
        self.parts = parts  # file (or folder) of each part, relative to the dataset root
        self.part_starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
        self.length = int(self.part_starts[-1])
        self.sample_shape = tuple(int(d) for d in sample_shape)  # the common shape (the most frequent one)
        self.dtype = np.dtype(dtype)
        # shape -> number of samples, only when the samples do not all share one shape
        self.shape_counts: dict[tuple[int, ...], int] | None = None
        self.problems: list[SourceProblem] = []

    def __len__(self) -> int:
        return self.length

    @property
    def row_bytes(self) -> int:
        return max(1, int(np.prod(self.sample_shape, dtype=np.int64)) * self.dtype.itemsize)

    @property
    def nbytes(self) -> int:
        return self.length * self.row_bytes

    def rows_per_block(self, chunk_bytes: int) -> int:
        return max(1, chunk_bytes // self.row_bytes)

    def part_of(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.part_starts, indices, side="right") - 1

    def sample_names(self, indices) -> list[str] | None:
        """The file of each sample, for sources with a file per sample (image folders); else None."""
        return None

    def blocks(self, chunk_bytes: int) -> Iterator[Block]:
        """Every readable sample once, in index order."""
        return self._blocks(chunk_bytes)

    def take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        """The samples at ``indices`` (ascending, unique), in blocks; unreadable ones are skipped."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            return iter(())
        return self._take(indices, chunk_bytes)

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        raise NotImplementedError

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        raise NotImplementedError


class ArraySource(Source):
    """One array (a memory map or an in-memory array) as a one-part source."""

    def __init__(self, array: np.ndarray, file: str):
        super().__init__([file], [len(array)], array.shape[1:], array.dtype)
        self.array = array

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        step = self.rows_per_block(chunk_bytes)
        for start in range(0, self.length, step):
            stop = min(start + step, self.length)
            # np.asarray drops the memmap subclass without copying; the pages are read here.
            yield Block(np.arange(start, stop, dtype=np.int64), np.asarray(self.array[start:stop]))

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        step = self.rows_per_block(chunk_bytes)
        for start in range(0, len(indices), step):
            chosen = indices[start:start + step]
            yield Block(chosen, np.asarray(self.array[chosen]))


class ChainSource(Source):
    """Several one-part sources (one per file) of the same split as one, numbered in order."""

    def __init__(self, sources: list[Source]):
        lengths = [len(s) for s in sources]
        counts: dict[tuple, int] = {}
        for s in sources:
            for shape, n in (s.shape_counts or {s.sample_shape: len(s)}).items():
                counts[shape] = counts.get(shape, 0) + n
        common = max(counts, key=counts.get) if counts else sources[0].sample_shape
        super().__init__([p for s in sources for p in s.parts], lengths, common, sources[0].dtype)
        self.sources = sources
        if len(counts) > 1:
            self.shape_counts = counts
        for s in sources[1:]:
            if s.dtype != self.dtype:
                self.problems.append(SourceProblem(
                    "shapes", s.parts[0], f"holds {s.dtype} samples, {sources[0].parts[0]} holds {self.dtype}"))

    def sample_names(self, indices) -> list[str] | None:
        if not any(s.has_sample_names for s in self.sources):
            return None
        indices = np.asarray(indices, dtype=np.int64)
        names: list[str] = []
        for index, part in zip(indices, self.part_of(indices), strict=True):
            inner = self.sources[part].sample_names([index - self.part_starts[part]])
            names.append(inner[0] if inner else self.parts[part])
        return names

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        for part, source in enumerate(self.sources):
            offset = self.part_starts[part]
            for block in source.blocks(chunk_bytes):
                yield Block(block.indices + offset, block.x, part)

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        parts = self.part_of(indices)
        for part, source in enumerate(self.sources):
            offset = self.part_starts[part]
            for block in source.take(indices[parts == part] - offset, chunk_bytes):
                yield Block(block.indices + offset, block.x, part)


def problems_of(source: Source | None) -> list[SourceProblem]:
    """Every problem a source and its parts found, with split-level indices."""
    if source is None:
        return []
    if isinstance(source, ChainSource):
        found = list(source.problems)
        for part, inner in enumerate(source.sources):
            offset = int(source.part_starts[part])
            for p in problems_of(inner):
                found.append(replace(p, indices=tuple(i + offset for i in p.indices)))
        return found
    return list(source.problems)
