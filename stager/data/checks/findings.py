"""Findings, and turning offending sample indices into findings per file.

Indices in a finding are always split-level (sample ``i`` of the split, counted
over its files in order).  When a split spans several files (CIFAR batches,
several IDX pairs) one finding is made per file, and ``other["file_indices"]``
gives the same samples' positions inside that file; for image folders
``other["files"]`` names each listed sample's image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stager.data.formats.base import Source


@dataclass(frozen=True)
class Finding:
    check: str  # which check found it
    level: str  # error | warn | info
    split: str | None  # train | val | test, None for the dataset as a whole
    file: str | None  # relative to the dataset root; a folder for image folders; None when not one file
    indices: tuple[int, ...]  # the first offending sample indices (split-level); for leakage those in `split`
    count: int  # how many in all
    message: str  # one line
    other: dict = field(default_factory=dict)  # JSON-safe detail

    def to_json(self) -> dict:
        return {"check": self.check, "level": self.level, "split": self.split, "file": self.file,
                "indices": list(self.indices), "count": self.count, "message": self.message, "other": self.other}


class Hits:
    """Offending sample indices met in index order: the first ``limit`` per file part, and how many in all."""

    def __init__(self, limit: int):
        self.limit = limit
        self.first: dict[int, list[int]] = {}
        self.counts: dict[int, int] = {}

    def add(self, indices: np.ndarray, part: int = 0) -> None:
        if len(indices) == 0:
            return
        kept = self.first.setdefault(part, [])
        if len(kept) < self.limit:
            kept.extend(int(i) for i in indices[: self.limit - len(kept)])
        self.counts[part] = self.counts.get(part, 0) + len(indices)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def arrays(self) -> np.ndarray:
        return np.array(sorted(i for kept in self.first.values() for i in kept), dtype=np.int64)


def per_part(source: Source | None, hits: Hits) -> list[tuple[str | None, np.ndarray, int]]:
    """(file, first indices, count) for each file part of ``source`` with hits."""
    out = []
    for part in sorted(hits.counts):
        file = source.parts[part] if source is not None else None
        out.append((file, np.array(hits.first[part], dtype=np.int64), hits.counts[part]))
    return out


def located(source: Source | None, indices: np.ndarray, other: dict | None = None) -> dict:
    """``other`` plus where the samples are: their position within their file, or their image file."""
    other = dict(other or {})
    if source is None or len(indices) == 0:
        return other
    if len(source.parts) > 1:
        starts = source.part_starts[source.part_of(indices)]
        other["file_indices"] = [int(i) for i in indices - starts]
    names = source.sample_names(indices)
    if names is not None and source.has_sample_names:
        other["files"] = names
    return other


def split_by_part(source: Source | None, indices: np.ndarray, limit: int,
                  aligned: dict[str, np.ndarray] | None = None) -> list[tuple[str | None, np.ndarray, int, dict]]:
    """Group every offending index by file part: (file, first ``limit`` sorted indices, count, aligned values).

    ``aligned`` holds arrays parallel to ``indices`` (the partner sample of each,
    its label...); each is cut and ordered the same way.
    """
    aligned = aligned or {}
    order = np.argsort(indices, kind="stable")
    indices = indices[order]
    aligned = {k: np.asarray(v)[order] for k, v in aligned.items()}
    parts = source.part_of(indices) if source is not None else np.zeros(len(indices), dtype=np.int64)
    out = []
    for part in np.unique(parts):
        mask = parts == part
        chosen = indices[mask]
        file = source.parts[int(part)] if source is not None else None
        values = {k: [_plain(v) for v in a[mask][:limit]] for k, a in aligned.items()}
        out.append((file, chosen[:limit], int(mask.sum()), values))
    return out


def _plain(value):
    """A numpy scalar as a JSON-safe Python value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def fill(template: str, count: int) -> str:
    """``template`` with {samples}, {labels} or {count} filled in for ``count``."""
    return template.format(samples=plural(count, "sample"), labels=plural(count, "label"), count=count)


def as_tuple(indices: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in indices)
