"""Shapes and dtypes: consistent within each split, across splits, and inputs matched by labels.

The first split (``train`` when present) is the reference the others are
compared with.  Label dtypes are compared by kind (integer, float), not width:
int32 labels in one split and int64 in another are fine.
"""

from __future__ import annotations

import numpy as np

from stager.data.checks.findings import Finding, located, plural
from stager.data.layout import SplitData


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def length_findings(split: SplitData, level: str) -> list[Finding]:
    """Inputs and labels of different lengths, for the split and for each pair of files."""
    x, y = split.x, split.y
    if x is None or y is None or level == "off":
        return []
    if len(x.parts) == len(y.parts) > 1:
        found = []
        for part, x_file in enumerate(x.parts):
            nx = int(x.part_starts[part + 1] - x.part_starts[part])
            ny = int(y.part_starts[part + 1] - y.part_starts[part])
            if nx != ny:
                found.append(Finding("shapes", level, split.name, x_file, (), abs(nx - ny),
                                     f"{nx} inputs but {ny} labels", {"inputs": nx, "labels": ny}))
        if found:
            return found
    if len(x) != len(y):
        x_name, y_name = ", ".join(x.parts), ", ".join(y.parts)
        where = x_name if x_name == y_name else f"{x_name} has {len(x)}, {y_name} has {len(y)}"
        return [Finding("shapes", level, split.name, x.parts[0] if len(x.parts) == 1 else None, (),
                        abs(len(x) - len(y)), f"{len(x)} inputs but {len(y)} labels ({where})",
                        {"inputs": len(x), "labels": len(y)})]
    return []


def mixed_shape_finding(split: SplitData, shapes: dict, other_first: np.ndarray, other_count: int,
                        level: str) -> list[Finding]:
    """Samples whose shape is not the split's common one (image folders, several IDX files)."""
    if len(shapes) < 2 or level == "off" or split.x is None:
        return []
    common = split.x.sample_shape
    summary = {_shape_text(s): n for s, n in sorted(shapes.items(), key=lambda kv: -kv[1])}
    seen = ", ".join(f"{k} ({v})" for k, v in list(summary.items())[:4])
    return [Finding("shapes", level, split.name, split.x.parts[0] if len(split.x.parts) == 1 else None,
                    tuple(int(i) for i in other_first), other_count,
                    f"{plural(other_count, 'sample')} not {_shape_text(common)} like the rest: {seen}",
                    located(split.x, other_first, {"shapes": summary}))]


def label_shape_finding(split: SplitData, level: str) -> list[Finding]:
    y = split.y
    if y is None or level == "off" or y.sample_shape in ((), (1,)):
        return []
    return [Finding("shapes", level, split.name, y.parts[0], (), len(y),
                    f"labels are {_shape_text(y.sample_shape)} per sample, not one class id "
                    "(one-hot? store the class index)", {"label_shape": list(y.sample_shape)})]


def _describe(split: SplitData) -> dict:
    x, y = split.x, split.y
    return {
        "shape": x.sample_shape if x is not None else None,
        "dtype": str(x.dtype) if x is not None else None,
        "columns": split.columns,
        "label_kind": {"b": "bool", "i": "integer", "u": "integer", "f": "float"}.get(y.dtype.kind) if y else None,
        "label_shape": y.sample_shape if y is not None else None,
    }


def cross_split_findings(splits: dict[str, SplitData], level: str) -> list[Finding]:
    """Every split compared with the first one that has inputs."""
    if level == "off":
        return []
    opened = [s for s in splits.values() if s.x is not None]
    if len(opened) < 2:
        return []
    ref = opened[0]
    ref_desc = _describe(ref)
    found = []
    for split in opened[1:]:
        desc = _describe(split)
        problems = []
        if desc["columns"] is not None and ref_desc["columns"] is not None and desc["columns"] != ref_desc["columns"]:
            missing = [c for c in ref_desc["columns"] if c not in desc["columns"]]
            extra = [c for c in desc["columns"] if c not in ref_desc["columns"]]
            if missing or extra:
                problems.append("columns differ from " + ref.name
                                + (f": missing {', '.join(missing)}" if missing else "")
                                + (f"; extra {', '.join(extra)}" if extra else ""))
            else:
                problems.append(f"columns are in another order than in {ref.name}")
        elif desc["shape"] != ref_desc["shape"]:
            mine, theirs = _shape_text(desc["shape"]), _shape_text(ref_desc["shape"])
            problems.append(f"samples are {mine}, {ref.name}'s are {theirs}")
        if desc["dtype"] != ref_desc["dtype"]:
            problems.append(f"inputs are {desc['dtype']}, {ref.name}'s are {ref_desc['dtype']}")
        for key, what in (("label_kind", "labels are"), ("label_shape", "labels have shape")):
            if desc[key] is not None and ref_desc[key] is not None and desc[key] != ref_desc[key]:
                mine, theirs = desc[key], ref_desc[key]
                if key == "label_shape":
                    mine, theirs = _shape_text(mine), _shape_text(theirs)
                problems.append(f"{what} {mine}, {ref.name}'s {theirs}")
        if problems:
            found.append(Finding("shapes", level, split.name, None, (), 1, "; ".join(problems),
                                 {"other_split": ref.name,
                                  "this": _json_desc(desc), "other": _json_desc(ref_desc)}))
    return found


def _json_desc(desc: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in desc.items()}
