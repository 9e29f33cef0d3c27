"""``validate_dataset``: every data check over a dataset folder, as one report.

The order: open the splits (files that do not load become findings), compare
shapes, read every split once (values, statistics, digests), then labels,
identical and near-identical samples, and drift against the previous
statistics.  Memory stays bounded by the block size plus a few bytes per
sample (digests), whatever the size of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stager.data.checks import labels as label_checks
from stager.data.checks import shapes as shape_checks
from stager.data.checks.drift import drift_findings
from stager.data.checks.findings import Finding, plural
from stager.data.checks.identity import SplitHashes, find_identical
from stager.data.checks.near_duplicates import near_groups
from stager.data.checks.reporting import hit_findings, identity_findings, near_findings, problem_findings
from stager.data.checks.scan import ScanResult, scan_split
from stager.data.formats.base import problems_of
from stager.data.layout import SPLITS, Dataset, SplitData, open_dataset
from stager.data.validate_config import CHECKS, ValidationConfig

__all__ = ["Finding", "ValidationReport", "validate_dataset"]

_SEVERITY = {"error": 0, "warn": 1, "info": 2}

Progress = Callable[[str, int, int], None]


@dataclass
class ValidationReport:
    root: str
    layout: str  # npz | npy-pairs | idx | cifar | csv | image-folders
    findings: list[Finding]
    splits: dict[str, dict]  # JSON-safe per-split statistics; the manifest keeps them for the next drift check
    checks_run: dict[str, str] = field(default_factory=dict)  # check -> level it ran at ("off" when it did not)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)

    def to_json(self) -> dict:
        return {
            "root": self.root,
            "layout": self.layout,
            "ok": self.ok,
            "summary": {"errors": self.count("error"), "warnings": self.count("warn"), "notes": self.count("info")},
            "checks_run": dict(self.checks_run),
            "findings": [f.to_json() for f in self.findings],
            "splits": self.splits,
        }


def _levels(config: ValidationConfig, previous_splits: dict | None) -> dict[str, str]:
    levels = {name: config.level(name) for name in CHECKS}
    if config.option("range", "min") is None and config.option("range", "max") is None:
        levels["range"] = "off"  # nothing to compare with
    if previous_splits is None:
        levels["drift"] = "off"
    return levels


def _labels_usable(split: SplitData) -> bool:
    y = split.y
    return y is not None and y.sample_shape in ((), (1,)) and split.x is not None and len(y) == len(split.x)


def _value_findings(split: SplitData, scan: ScanResult, levels: dict, config: ValidationConfig) -> list[Finding]:
    low, high = config.option("range", "min"), config.option("range", "max")
    seen = {"min": _plain(scan.low), "max": _plain(scan.high)}
    found = hit_findings("finite", levels["finite"], split, split.x, scan.nonfinite,
                         "NaN or Inf in {samples}")
    if low is not None:
        found += hit_findings("range", levels["range"], split, split.x, scan.below,
                              f"values below {low:g} in {{samples}} (lowest {scan.low:g})", {"seen": seen})
    if high is not None:
        found += hit_findings("range", levels["range"], split, split.x, scan.above,
                              f"values above {high:g} in {{samples}} (highest {scan.high:g})", {"seen": seen})
    found += shape_checks.mixed_shape_finding(split, scan.shapes, scan.other_shape.arrays(),
                                              scan.other_shape.total, levels["shapes"])
    return found


def _plain(value: float) -> float | None:
    return float(f"{value:.6g}") if np.isfinite(value) else None


def _label_findings(dataset: Dataset, levels: dict, config: ValidationConfig,
                    stats: dict[str, dict]) -> list[Finding]:
    limit, chunk = config.sample_limit, config.chunk_bytes
    level = levels["labels"]
    options = config.checks["labels"].options
    labelled = {n: s for n, s in dataset.splits.items() if s.y is not None and s.y.sample_shape in ((), (1,))}
    scans = {n: label_checks.scan_labels(s.y, limit, chunk) for n, s in labelled.items()}
    names = next((s.class_names for s in dataset.splits.values() if s.class_names), None)
    expected = label_checks.expected_classes(options, names, scans)
    low, high = (expected[0], expected[1]) if expected else (None, None)
    found: list[Finding] = []
    for name, scan in scans.items():
        split = dataset.splits[name]
        stats[name]["labels"] = label_checks.labels_json(scan, names, low, high)
        nonfinite_check = "finite" if levels["finite"] != "off" else "labels"
        found += hit_findings(nonfinite_check, levels[nonfinite_check], split, split.y, scan.nonfinite,
                              "NaN or Inf in {labels}")
        found += hit_findings("labels", level, split, split.y, scan.fractional, "{labels} not whole numbers "
                              "(regression targets? set labels: off)")
        if level == "off" or expected is None or scan.too_many:
            continue
        if any(k < low or k > high for k in scan.counts):
            hits = label_checks.out_of_range(split.y, low, high, limit, chunk)
            found += hit_findings("labels", level, split, split.y, hits,
                                  f"{{labels}} outside {low}..{high} (expected from {expected[2]})",
                                  {"expected": [low, high]})
        if high - low < label_checks.MAX_CLASSES:
            missing = [c for c in range(low, high + 1) if c not in scan.counts]
            if missing:
                shown = ", ".join(label_checks.class_label(c, names) for c in missing[:10])
                more = ", ..." if len(missing) > 10 else ""
                classes = plural(len(missing), "class", "classes")
                found.append(Finding("labels", level, name, None, (), len(missing),
                                     f"no samples in {name} for {classes}: {shown}{more}",
                                     {"missing_classes": missing[:limit], "expected": [low, high]}))
        ratio = label_checks.imbalance(scan.counts, low, high)
        limit_ratio = options.get("max_imbalance")
        if ratio and limit_ratio is not None and ratio[0] > limit_ratio:
            value, big, small = ratio
            found.append(Finding("labels", level, name, None, (), 1,
                                 f"class imbalance {value:.1f} is above max_imbalance {limit_ratio}: class "
                                 f"{label_checks.class_label(big, names)} has {scan.counts[big]} samples, "
                                 f"class {label_checks.class_label(small, names)} {scan.counts[small]}",
                                 {"ratio": round(value, 4), "largest": big, "smallest": small}))
    return found


def validate_dataset(root: Path, config: ValidationConfig | None = None, *, previous_splits: dict | None = None,
                     progress: Progress | None = None) -> ValidationReport:
    """Check the dataset in ``root`` and report every finding and per-split statistics.

    ``previous_splits`` is the ``splits`` of an earlier report (from the
    dataset's previous manifest), for the drift check.  ``progress`` is called
    as ``progress(stage, done, total)``.

    Raises:
        UsageError: the folder is missing, empty or of no known layout.
    """
    config = config or ValidationConfig()
    root = Path(root)
    if previous_splits is not None and not isinstance(previous_splits, dict):
        previous_splits = None  # a damaged manifest: nothing trustworthy to compare with
    dataset = open_dataset(root, config.label_column)
    levels = _levels(config, previous_splits)
    limit, chunk = config.sample_limit, config.chunk_bytes
    findings: list[Finding] = []
    for split in dataset.splits.values():
        findings += shape_checks.length_findings(split, levels["shapes"])
        findings += shape_checks.label_shape_finding(split, levels["shapes"])
    findings += shape_checks.cross_split_findings(dataset.splits, levels["shapes"])

    identity = any(levels[c] != "off" for c in ("duplicates", "leakage", "conflicts"))
    perceptual = config.option("near_duplicates", "hash") if levels["near_duplicates"] != "off" else None
    bounds = (config.option("range", "min"), config.option("range", "max"))
    scans: dict[str, ScanResult] = {}
    stats: dict[str, dict] = {}
    for name, split in dataset.splits.items():
        count = len(split.x) if split.x is not None else (len(split.y) if split.y is not None else 0)
        stats[name] = {"count": count, "files": len(split.files), "inputs": None, "labels": None}
        if split.x is None:
            continue
        scan = scan_split(name, split.x, columns=split.columns, limit=limit, chunk_bytes=chunk, bounds=bounds,
                          digests=identity, perceptual=perceptual, progress=progress)
        scans[name] = scan
        stats[name]["inputs"] = scan.stats.to_json()
        unread = int(len(scan.seen) - scan.seen.sum())
        if unread:
            stats[name]["unread"] = unread
        findings += _value_findings(split, scan, levels, config)

    findings += _label_findings(dataset, levels, config, stats)

    if identity and scans:
        hashes = {}
        for n, s in scans.items():
            split = dataset.splits[n]
            hashes[n] = SplitHashes(split.x, split.y if _labels_usable(split) else None, s.digests, s.seen)
        findings += identity_findings(find_identical(hashes, chunk, progress), dataset.splits, levels, limit)

    if perceptual:
        findings += _near_duplicates(dataset, scans, levels, config)

    for split_name, problem in dataset.problems:
        source = dataset.splits[split_name].x if split_name in dataset.splits else None
        findings += problem_findings(split_name, source, [problem], levels, limit)
    for name, split in dataset.splits.items():
        findings += problem_findings(name, split.x, problems_of(split.x), levels, limit)
        if split.y is not split.x:
            findings += problem_findings(name, split.y, problems_of(split.y), levels, limit)

    if previous_splits is not None and levels["drift"] != "off":
        findings += drift_findings(stats, previous_splits, config.checks["drift"].options, levels["drift"], limit)

    order = {name: k for k, name in enumerate(CHECKS)}
    split_order = {name: k for k, name in enumerate(SPLITS)}
    findings.sort(key=lambda f: (order.get(f.check, 99), split_order.get(f.split, 9), f.file or ""))
    return ValidationReport(str(root), dataset.layout, findings, stats, levels)


def _near_duplicates(dataset: Dataset, scans: dict[str, ScanResult], levels: dict,
                     config: ValidationConfig) -> list[Finding]:
    hashed = {n: (np.flatnonzero(s.hashed), s.perceptual[s.hashed]) for n, s in scans.items() if s.hashed is not None}
    if not hashed:
        levels["near_duplicates"] = "off"
        return [Finding("near_duplicates", "info", None, None, (), 0,
                        "near_duplicates compares images only; these inputs are not image-like, so it did not run")]
    distance = config.option("near_duplicates", "distance")
    groups = near_groups(hashed, distance)
    return near_findings(groups, dataset.splits, levels["near_duplicates"], distance, config.sample_limit)
