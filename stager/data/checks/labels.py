"""Labels: whole numbers in the expected range, every class in every split, balance.

The expected classes are, in order of precedence: ``num_classes`` (0..K-1),
``min``/``max``, the class folders or class names of the dataset, or else
0..(largest train label).  Labels must be one number per sample (an (N,) or
(N, 1) array); one-hot or multi-label targets are reported, not checked.
Counting stops at ``MAX_CLASSES`` distinct values (regression targets are
not class labels: set ``labels: off`` for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stager.data.checks.findings import Hits
from stager.data.formats.base import Source

MAX_CLASSES = 100_000


@dataclass
class LabelScan:
    shape: tuple[int, ...]  # per-sample shape of the labels
    dtype: str
    counts: dict[int, int] = field(default_factory=dict)  # whole-number label -> samples
    nonfinite: Hits | None = None  # NaN / Inf labels
    fractional: Hits | None = None  # finite labels that are not whole numbers
    too_many: bool = False  # counting stopped at MAX_CLASSES distinct labels

    @property
    def one_per_sample(self) -> bool:
        return self.shape in ((), (1,))


def _whole(values: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Finite whole numbers small enough to count as int64 class ids."""
    safe = np.where(finite, values, 0.5)
    return finite & (safe == np.floor(safe)) & (np.abs(safe) < 2.0**62)


def scan_labels(labels: Source, limit: int, chunk_bytes: int) -> LabelScan:
    """One pass over a split's labels: histogram, NaN/Inf and fractional values."""
    scan = LabelScan(labels.sample_shape, str(labels.dtype), nonfinite=Hits(limit), fractional=Hits(limit))
    if not scan.one_per_sample:
        return scan
    for block in labels.blocks(chunk_bytes):
        values = block.x.reshape(-1)
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            whole = _whole(values, finite)
            scan.nonfinite.add(block.indices[~finite], block.part)
            scan.fractional.add(block.indices[finite & ~whole], block.part)
            values = values[whole]
        if scan.too_many or values.size == 0:
            continue
        values = values.astype(np.int64, copy=False)
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high < 1 << 20:
            # Class ids are small whole numbers: counting beats sorting.
            counts = np.bincount(values, minlength=high + 1)
            found = np.flatnonzero(counts)
            counts = counts[found]
        else:
            found, counts = np.unique(values, return_counts=True)
        for value, count in zip(found.tolist(), counts.tolist(), strict=True):
            scan.counts[value] = scan.counts.get(value, 0) + count
        if len(scan.counts) > MAX_CLASSES:
            scan.too_many = True
            scan.counts = {}
    return scan


def expected_classes(options: dict, class_names: list[str] | None,
                     scans: dict[str, LabelScan]) -> tuple[int, int, str] | None:
    """(lowest, highest, why) of the expected class ids, or None when nothing says."""
    if options.get("num_classes") is not None:
        return 0, options["num_classes"] - 1, f"num_classes {options['num_classes']}"
    if options.get("min") is not None:
        return options["min"], options["max"], f"labels min {options['min']} max {options['max']}"
    if class_names:
        return 0, len(class_names) - 1, f"{len(class_names)} classes"
    basis = scans.get("train") or next(iter(scans.values()), None)
    if basis is None or not basis.counts or basis.too_many:
        return None
    name = "train" if "train" in scans else "the first split"
    return 0, max(max(basis.counts), 0), f"labels seen in {name}"


def out_of_range(labels: Source, low: int, high: int, limit: int, chunk_bytes: int) -> Hits:
    """Samples whose (whole-number) label is outside low..high."""
    hits = Hits(limit)
    for block in labels.blocks(chunk_bytes):
        values = block.x.reshape(-1)
        if values.dtype.kind == "f":
            whole = _whole(values, np.isfinite(values))
            bad = whole & ((values < low) | (values > high))
        else:
            bad = (values < low) | (values > high)
        hits.add(block.indices[bad], block.part)
    return hits


def imbalance(counts: dict[int, int], low: int | None, high: int | None) -> tuple[float, int, int] | None:
    """(largest count / smallest count, largest class, smallest class) over the classes present in range."""
    present = {k: v for k, v in counts.items() if low is None or low <= k <= high}
    if not present:
        return None
    big = max(present, key=present.get)
    small = min(present, key=present.get)
    return present[big] / present[small], big, small


def class_label(value: int, names: list[str] | None) -> str:
    if names and 0 <= value < len(names):
        return f"{value} ({names[value]})"
    return str(value)


def labels_json(scan: LabelScan, names: list[str] | None, low: int | None, high: int | None) -> dict:
    ratio = imbalance(scan.counts, low, high)
    out = {
        "shape": list(scan.shape),
        "dtype": scan.dtype,
        "classes": sorted(scan.counts),
        "counts": {str(k): scan.counts[k] for k in sorted(scan.counts)},
        "imbalance": round(ratio[0], 4) if ratio else None,
    }
    if names:
        out["names"] = list(names)
    if scan.too_many:
        out["note"] = f"more than {MAX_CLASSES} distinct labels: not counted"
    return out
