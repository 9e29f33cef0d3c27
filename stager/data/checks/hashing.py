"""Per-sample digests for finding identical samples without keeping the samples.

Two stages, so that memory stays at 8 bytes a sample and speed near memory
bandwidth:

1. ``fast_digests``: a 64-bit hash of every row, vectorised (the row's bytes as
   64-bit words, a dot product with fixed random odd multipliers modulo 2**64,
   then a splitmix64 finaliser).  Equal rows always get equal digests; unequal
   rows can collide, so a shared digest only makes a candidate.
2. ``strong_digests``: BLAKE2b-128 of each candidate row, read again.  Samples
   are called identical only when these agree, so a fast-hash collision never
   becomes a false duplicate.

The shape and dtype are part of both digests: images of different sizes, or
the same bytes read as another dtype, are never identical.
"""

from __future__ import annotations

import hashlib

import numpy as np

_SEED = 0x5A17_D16E57
_multipliers = np.empty(0, dtype=np.uint64)


def _multipliers_for(words: int) -> np.ndarray:
    global _multipliers
    if len(_multipliers) < words:
        rng = np.random.default_rng(_SEED)
        size = max(words, 2 * len(_multipliers), 1024)
        _multipliers = rng.integers(0, 2**64, size=size, dtype=np.uint64, endpoint=False) | np.uint64(1)
    return _multipliers[:words]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _tag(x: np.ndarray) -> bytes:
    return f"{x.shape[1:]}{x.dtype.str}".encode()


def fast_digests(x: np.ndarray) -> np.ndarray:
    """A uint64 digest of each row of ``x`` (n, ...)."""
    n = len(x)
    rows = np.ascontiguousarray(x).reshape(n, -1).view(np.uint8).reshape(n, -1)
    width = rows.shape[1]
    if width % 8:
        padded = np.zeros((n, width + 8 - width % 8), dtype=np.uint8)
        padded[:, :width] = rows
        rows = padded
    words = rows.view(np.uint64)
    with np.errstate(over="ignore"):
        h = words @ _multipliers_for(words.shape[1]) if words.shape[1] else np.zeros(n, dtype=np.uint64)
        seed = int.from_bytes(hashlib.blake2b(_tag(x), digest_size=8).digest(), "little")
        return _mix(h ^ np.uint64(seed))


def strong_digests(x: np.ndarray) -> np.ndarray:
    """(n, 2) uint64: BLAKE2b-128 of each row of ``x`` with its shape and dtype."""
    tag = _tag(x)
    rows = np.ascontiguousarray(x).reshape(len(x), -1)
    out = np.empty((len(x), 2), dtype=np.uint64)
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(row.tobytes(), digest_size=16, person=b"stager-sample")
        digest.update(tag)
        out[i] = np.frombuffer(digest.digest(), dtype=np.uint64)
    return out
