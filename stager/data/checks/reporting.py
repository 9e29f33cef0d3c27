"""Findings from what the checks collected: problems of files, hits of values, pairs of samples."""

from __future__ import annotations

import numpy as np

from stager.data.checks.findings import Finding, Hits, as_tuple, fill, located, per_part, plural, split_by_part
from stager.data.checks.identity import IdentityResult, Pairs
from stager.data.formats.base import Source, SourceProblem
from stager.data.layout import SplitData


def problem_findings(split: str | None, source: Source | None, problems: list[SourceProblem],
                     levels: dict[str, str], limit: int) -> list[Finding]:
    """Problems met opening or reading files.  Many unreadable samples of one split (images) make one finding."""
    found = []
    per_sample = [p for p in problems if p.check == "files" and p.indices and p.level is None]
    others = [p for p in problems if p not in per_sample]
    for p in others:
        level = p.level or levels.get(p.check, "error")
        if level == "off":
            continue
        count = p.count if p.count is not None else max(1, len(p.indices))
        indices = tuple(p.indices[:limit])
        other = located(source, np.array(indices, dtype=np.int64)) if indices and p.check != "files" else {}
        found.append(Finding(p.check, level, split, p.file, indices, count, f"{p.file}: {p.message}", other))
    if per_sample and levels.get("files", "error") != "off":
        per_sample.sort(key=lambda p: p.indices[0])
        shown = per_sample[:limit]
        if len(per_sample) == 1:
            p = per_sample[0]
            found.append(Finding("files", levels["files"], split, p.file, p.indices, 1, f"{p.file}: {p.message}"))
        else:
            folder = source.parts[0] if source is not None and len(source.parts) == 1 else None
            names = ", ".join(p.file for p in shown[:3])
            found.append(Finding(
                "files", levels["files"], split, folder, tuple(p.indices[0] for p in shown), len(per_sample),
                f"{plural(len(per_sample), 'file')} that do not load: {names}{', ...' if len(per_sample) > 3 else ''}",
                {"files": [p.file for p in shown], "errors": [p.message for p in shown]}))
    return found


def hit_findings(check: str, level: str, split: SplitData, source: Source | None, hits: Hits,
                 message: str, other: dict | None = None) -> list[Finding]:
    """One finding per file part with hits; ``message`` is a ``fill`` template."""
    if level == "off":
        return []
    return [Finding(check, level, split.name, file, as_tuple(first), count, fill(message, count),
                    located(source, first, other))
            for file, first, count in per_part(source, hits)]


def _label_values(values: np.ndarray) -> list:
    out = []
    for v in values:
        if isinstance(v, float) and v.is_integer():
            out.append(int(v))
        else:
            out.append(v)
    return out


def _pair_findings(check: str, level: str, split: SplitData, pairs: Pairs, limit: int,
                   message: str, other_split: str | None, with_labels: bool) -> list[Finding]:
    indices, partners, labels, partner_labels = pairs.arrays()
    aligned = {"other_indices": partners}
    if with_labels:
        aligned.update(labels=labels, other_labels=partner_labels)
    found = []
    for file, first, count, values in split_by_part(split.x, indices, limit, aligned):
        other = {"other_split": other_split} if other_split else {}
        other.update({k: (_label_values(v) if "labels" in k else v) for k, v in values.items()})
        found.append(Finding(check, level, split.name, file, as_tuple(first), count, fill(message, count),
                             located(split.x, first, other)))
    return found


def identity_findings(result: IdentityResult, splits: dict[str, SplitData], levels: dict[str, str],
                      limit: int) -> list[Finding]:
    found = []
    if levels["duplicates"] != "off":
        for name, pairs in result.duplicates.items():
            found += _pair_findings("duplicates", levels["duplicates"], splits[name], pairs, limit,
                                    f"{{samples}} of {name} identical to an earlier {name} sample", name,
                                    with_labels=False)
    if levels["leakage"] != "off":
        for (later, earlier), pairs in result.leakage.items():
            found += _pair_findings("leakage", levels["leakage"], splits[later], pairs, limit,
                                    f"{{samples}} of {later} also in {earlier}", earlier, with_labels=False)
    if levels["conflicts"] != "off":
        for (name, other), pairs in result.conflicts.items():
            if name == other:
                message = f"{{samples}} of {name} with the same input as a {name} sample of another label"
            else:
                message = f"{{samples}} of {name} labelled unlike the identical sample in {other}"
            found += _pair_findings("conflicts", levels["conflicts"], splits[name], pairs, limit, message, other,
                                    with_labels=True)
    return found


def near_findings(groups: dict, splits: dict[str, SplitData], level: str, distance: int,
                  limit: int) -> list[Finding]:
    found = []
    for name, by_other in groups.items():
        for other, (indices, twins) in by_other.items():
            where = f"another {name} sample" if other == name else f"a {other} sample"
            pairs = Pairs()
            pairs.add(indices, twins)
            found += _pair_findings("near_duplicates", level, splits[name], pairs, limit,
                                    f"{{samples}} of {name} looking like {where} (perceptual hash within "
                                    f"{distance} bits)", other, with_labels=False)
    return found
