"""One pass over a split's inputs, block by block, feeding every check that reads values.

Each block is read once and, while it is in memory, checked for NaN/Inf and
range, added to the statistics, and hashed (exact and, when asked, perceptual).
What is kept per sample is at most two 8-byte digests and a "read" flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stager.data.checks.findings import Hits
from stager.data.checks.hashing import fast_digests
from stager.data.checks.near_duplicates import perceptual_hashes
from stager.data.checks.stats import InputStats, image_kind
from stager.data.formats.base import Source


@dataclass
class ScanResult:
    stats: InputStats
    nonfinite: Hits  # samples with a NaN or Inf value
    below: Hits  # samples with a value under range.min
    above: Hits  # samples with a value over range.max
    other_shape: Hits  # samples whose shape is not the split's common one
    seen: np.ndarray  # bool per sample: read and hashed
    digests: np.ndarray | None = None  # uint64 per sample (fast digest), when identity checks run
    perceptual: np.ndarray | None = None  # uint64 per sample, when near_duplicates runs on image data
    hashed: np.ndarray | None = None  # bool per sample: has a perceptual hash (read, and image-like)
    low: float = np.inf  # finite min over every sample read
    high: float = -np.inf
    shapes: dict = field(default_factory=dict)  # shape -> samples, over every sample read


def scan_split(
    name: str,
    source: Source,
    *,
    columns: list[str] | None,
    limit: int,
    chunk_bytes: int,
    bounds: tuple[float | None, float | None],
    digests: bool,
    perceptual: str | None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ScanResult:
    """Read every sample of ``source`` once.

    ``bounds`` is (min, max) of the range check, None where not set;
    ``perceptual`` is "dhash", "ahash" or None.
    """
    n = len(source)
    result = ScanResult(
        stats=InputStats(source.sample_shape, source.dtype, columns),
        nonfinite=Hits(limit), below=Hits(limit), above=Hits(limit), other_shape=Hits(limit),
        seen=np.zeros(n, dtype=bool),
        digests=np.zeros(n, dtype=np.uint64) if digests else None,
    )
    if perceptual and image_kind(source.sample_shape):
        result.perceptual = np.zeros(n, dtype=np.uint64)
        result.hashed = np.zeros(n, dtype=bool)
    low_bound, high_bound = bounds
    done = 0
    for block in source.blocks(chunk_bytes):
        x, idx = block.x, block.indices
        shape = x.shape[1:]
        result.shapes[shape] = result.shapes.get(shape, 0) + len(x)
        result.seen[idx] = True
        common = shape == source.sample_shape
        if not common:
            result.other_shape.add(idx, block.part)
        finite = None
        if x.dtype.kind == "f":
            finite = np.isfinite(x)
            if finite.all():
                finite = None
            else:
                bad = ~finite.reshape(len(x), -1).all(axis=1)
                result.nonfinite.add(idx[bad], block.part)
        if common:
            low, high = result.stats.update(x, finite)
        elif x.size:
            kept = x if finite is None else x[finite]
            low, high = (float(kept.min()), float(kept.max())) if kept.size else (np.inf, -np.inf)
        else:
            low, high = np.inf, -np.inf
        result.low, result.high = min(result.low, low), max(result.high, high)
        flat = x.reshape(len(x), -1)
        if low_bound is not None and low < low_bound:
            result.below.add(idx[(flat < low_bound).any(axis=1)], block.part)
        if high_bound is not None and high > high_bound:
            result.above.add(idx[(flat > high_bound).any(axis=1)], block.part)
        if result.digests is not None:
            result.digests[idx] = fast_digests(x)
        if result.perceptual is not None and image_kind(shape):
            result.perceptual[idx] = perceptual_hashes(x, perceptual)
            result.hashed[idx] = True
        done += len(idx)
        if progress is not None:
            progress(f"reading {name}", done, n)
    return result
