"""Identical samples: duplicates within a split, leakage across splits, conflicting labels.

Inputs are compared, labels are not: two samples with the same input are
*duplicates* when their labels agree (or the split has none), *conflicts*
when they do not (within a split or across splits), and *leakage* when they
sit in two splits.  Candidates come from the 8-byte fast digests of the scan;
only they are read again and confirmed with BLAKE2b-128 (see ``hashing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stager.data.checks.hashing import strong_digests
from stager.data.formats.base import Source


@dataclass
class Pairs:
    """Samples of one split paired with a partner sample: (index, partner index, label, partner label)."""

    indices: list[np.ndarray] = field(default_factory=list)
    partners: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    partner_labels: list[np.ndarray] = field(default_factory=list)

    def add(self, index, partner, label=None, partner_label=None) -> None:
        self.indices.append(np.atleast_1d(np.asarray(index, dtype=np.int64)))
        self.partners.append(np.atleast_1d(np.asarray(partner, dtype=np.int64)))
        self.labels.append(np.atleast_1d(np.asarray(label if label is not None else np.nan, dtype=np.float64)))
        self.partner_labels.append(
            np.atleast_1d(np.asarray(partner_label if partner_label is not None else np.nan, dtype=np.float64)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.indices:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0), np.zeros(0)
        return (np.concatenate(self.indices), np.concatenate(self.partners),
                np.concatenate(self.labels), np.concatenate(self.partner_labels))


@dataclass
class IdentityResult:
    duplicates: dict[str, Pairs] = field(default_factory=dict)  # split -> (copy, its first occurrence)
    conflicts: dict[tuple[str, str], Pairs] = field(default_factory=dict)  # (split, other split) -> pairs
    leakage: dict[tuple[str, str], Pairs] = field(default_factory=dict)  # (later split, earlier split) -> pairs


@dataclass
class SplitHashes:
    source: Source
    labels: Source | None  # None: the split has no usable labels
    digests: np.ndarray  # fast digest per sample
    seen: np.ndarray  # bool per sample: the digest is valid


def _candidates(splits: dict[str, SplitHashes]) -> dict[str, np.ndarray]:
    """Per split, the sample indices whose fast digest occurs more than once anywhere.

    A plain sort finds the repeated digests (np.unique with an inverse is some
    30 times slower on tens of millions of samples); a binary search then marks
    the samples holding one of them.
    """
    valid = {n: np.flatnonzero(h.seen) for n, h in splits.items()}
    digests = {n: splits[n].digests[v] for n, v in valid.items()}
    if not digests:
        return {}
    ordered = np.sort(np.concatenate(list(digests.values())))
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    out = {}
    for name, values in digests.items():
        if len(repeated) == 0 or len(values) == 0:
            out[name] = np.zeros(0, dtype=np.int64)
            continue
        at = np.minimum(np.searchsorted(repeated, values), len(repeated) - 1)
        out[name] = valid[name][repeated[at] == values]
    return out


def _read_labels(labels: Source | None, indices: np.ndarray, chunk_bytes: int) -> np.ndarray:
    out = np.full(len(indices), np.nan)
    if labels is None or len(indices) == 0:
        return out
    inside = indices < len(labels)
    position = {int(i): k for k, i in enumerate(indices)}
    for block in labels.take(indices[inside], chunk_bytes):
        values = block.x.reshape(len(block.x), -1)[:, 0].astype(np.float64)
        out[[position[int(i)] for i in block.indices]] = values
    return out


def find_identical(splits: dict[str, SplitHashes], chunk_bytes: int,
                   progress: Callable[[str, int, int], None] | None = None) -> IdentityResult:
    """Confirm fast-digest candidates by reading them again, and sort them into the three kinds."""
    result = IdentityResult()
    candidates = _candidates(splits)
    names = list(splits)
    rows = []  # per split: (split id, index, hi, lo, label)
    for k, name in enumerate(names):
        wanted = candidates[name]
        if progress is not None:
            progress(f"confirming identical samples in {name}", 0, len(wanted))
        found_idx, found_digest = [], []
        for block in splits[name].source.take(wanted, chunk_bytes):
            found_idx.append(block.indices)
            found_digest.append(strong_digests(block.x))
        if progress is not None:
            progress(f"confirming identical samples in {name}", len(wanted), len(wanted))
        if not found_idx:
            continue
        idx = np.concatenate(found_idx)
        digest = np.concatenate(found_digest)
        labels = _read_labels(splits[name].labels, idx, chunk_bytes)
        rows.append((np.full(len(idx), k), idx, digest[:, 0], digest[:, 1], labels))
    if not rows:
        return result
    split_id, index, hi, lo, label = (np.concatenate(c) for c in zip(*rows, strict=True))
    order = np.lexsort((index, split_id, lo, hi))
    split_id, index, hi, lo, label = split_id[order], index[order], hi[order], lo[order], label[order]
    boundary = np.flatnonzero(np.r_[True, (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1]), True])
    for start, stop in zip(boundary[:-1], boundary[1:], strict=True):
        if stop - start > 1:
            _classify(names, splits, split_id[start:stop], index[start:stop], label[start:stop], result)
    return result


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def _classify(names, splits, split_id, index, label, result: IdentityResult) -> None:
    """One group of identical inputs (rows sorted by split, then index)."""
    present = sorted(set(split_id.tolist()))
    for k in present:
        name = names[k]
        mask = split_id == k
        members, member_labels = index[mask], label[mask]
        if len(members) < 2:
            continue
        labelled = splits[name].labels is not None
        first_of: list[tuple[float, int]] = []  # (label, first sample with it), in order met
        for i, lab in zip(members, member_labels, strict=True):
            match = next((first for known, first in first_of if not labelled or _same(known, lab)), None)
            if match is None:
                first_of.append((lab, int(i)))
            else:
                result.duplicates.setdefault(name, Pairs()).add(i, match, lab, lab)
        if labelled and len(first_of) > 1:
            for i, lab in zip(members, member_labels, strict=True):
                other_label, other = next((known, first) for known, first in first_of if not _same(known, lab))
                result.conflicts.setdefault((name, name), Pairs()).add(i, other, lab, other_label)
    for b in present:
        for a in present:
            if a >= b:
                break
            later, earlier = names[b], names[a]
            mask_a, mask_b = split_id == a, split_id == b
            first_a, first_label_a = index[mask_a][0], label[mask_a][0]
            labels_a = label[mask_a]
            result.leakage.setdefault((later, earlier), Pairs()).add(
                index[mask_b], np.full(mask_b.sum(), first_a), label[mask_b], np.full(mask_b.sum(), first_label_a))
            if splits[later].labels is None or splits[earlier].labels is None:
                continue
            for i, lab in zip(index[mask_b], label[mask_b], strict=True):
                if not any(_same(lab, other) for other in labels_a):
                    result.conflicts.setdefault((later, earlier), Pairs()).add(i, first_a, lab, first_label_a)
