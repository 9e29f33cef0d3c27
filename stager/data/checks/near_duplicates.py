"""Near-duplicate images: 64-bit perceptual hashes compared by Hamming distance.

``dhash`` (default) shrinks an image to 9x8 grey cells by area averaging and
keeps one bit per pair of horizontal neighbours (is the right one brighter);
``ahash`` shrinks to 8x8 and keeps one bit per cell (brighter than the mean).
Both survive re-encoding, small brightness changes and resizing, not crops,
rotations or flips.  Images smaller than 8x9 are sampled, not averaged.

Pairs within ``distance`` bits are found without comparing every pair: two
hashes that differ in at most d bits agree exactly on at least one of d+1
bands of bits, so only hashes sharing a band value are compared.  Within one
band value at most ``MAX_NEIGHBOURS`` sorted neighbours are compared, which
bounds the time on data where thousands of images share a band (some pairs
may then be missed; identical hashes are always found).
"""

from __future__ import annotations

import numpy as np

from stager.data.checks.stats import image_kind

HASH_BITS = 64
MAX_NEIGHBOURS = 256


def _grey(x: np.ndarray) -> np.ndarray:
    """(n, H, W) float32 luminance-ish grey of image-like samples (channels averaged)."""
    kind = image_kind(x.shape[1:])
    x = x.astype(np.float32, copy=False)
    if kind == "chw":
        return x[:, :3].mean(axis=1) if x.shape[1] >= 3 else x[:, 0]
    if kind == "hwc":
        return x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    return x


def _shrink(grey: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Area-average (n, H, W) down to (n, rows, cols)."""
    n, height, width = grey.shape
    grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
    if height >= rows:
        edges = np.linspace(0, height, rows + 1).astype(np.int64)
        grey = np.add.reduceat(grey, edges[:-1], axis=1) / np.diff(edges)[None, :, None]
    else:
        grey = grey[:, np.linspace(0, height - 1, rows).round().astype(np.int64)]
    if width >= cols:
        edges = np.linspace(0, width, cols + 1).astype(np.int64)
        grey = np.add.reduceat(grey, edges[:-1], axis=2) / np.diff(edges)[None, None, :]
    else:
        grey = grey[:, :, np.linspace(0, width - 1, cols).round().astype(np.int64)]
    return grey


def _pack(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans to uint64."""
    packed = np.packbits(bits.reshape(len(bits), -1), axis=1, bitorder="little")
    return packed.view(np.uint64).reshape(-1)


def perceptual_hashes(x: np.ndarray, method: str = "dhash") -> np.ndarray:
    """A uint64 perceptual hash per image of ``x`` (n, *image shape)."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.uint64)
    grey = _grey(x)
    if method == "ahash":
        small = _shrink(grey, 8, 8)
        return _pack(small > small.mean(axis=(1, 2), keepdims=True))
    small = _shrink(grey, 8, 9)
    return _pack(small[:, :, 1:] > small[:, :, :-1])


def _bands(distance: int) -> list[tuple[int, int]]:
    """(shift, width) of ``distance + 1`` bands covering the 64 bits."""
    count = distance + 1
    edges = np.linspace(0, HASH_BITS, count + 1).astype(int)
    return [(int(a), int(b - a)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def close_pairs(hashes: np.ndarray, distance: int) -> np.ndarray:
    """(k, 2) positions i < j into ``hashes`` (unique values) within ``distance`` bits, 1 or more apart."""
    found: list[np.ndarray] = []
    if distance <= 0 or len(hashes) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    for shift, width in _bands(distance):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for step in range(1, MAX_NEIGHBOURS + 1):
            same = sorted_keys[step:] == sorted_keys[:-step]
            if not same.any():
                break
            left, right = order[:-step][same], order[step:][same]
            close = np.bitwise_count(hashes[left] ^ hashes[right]) <= distance
            if close.any():
                pair = np.stack([left[close], right[close]], axis=1)
                found.append(np.sort(pair, axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def _first_two(hash_ids: np.ndarray, indices: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each hash id: the first and second sample index holding it (-1 when none)."""
    first = np.full(size, -1, dtype=np.int64)
    second = np.full(size, -1, dtype=np.int64)
    if len(hash_ids) == 0:
        return first, second
    order = np.argsort(hash_ids, kind="stable")
    ids = hash_ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    first[ids[starts]] = indices[order[starts]]
    nxt = starts + 1
    has_second = nxt < len(ids)
    has_second[has_second] = ids[nxt[has_second]] == ids[starts[has_second]]
    second[ids[starts[has_second]]] = indices[order[nxt[has_second]]]
    return first, second


def near_groups(hashes_by_split: dict[str, tuple[np.ndarray, np.ndarray]], distance: int):
    """For every sample with a perceptual twin, one such twin.

    ``hashes_by_split`` maps split -> (sample indices, hashes).  Returns
    split -> other split -> (indices in split, a twin's index in the other
    split) for each sample with a twin (another sample within ``distance``
    bits) there; other split == split for twins in the same split, and only
    splits earlier in the mapping count as "other".
    """
    names = list(hashes_by_split)
    if not names:
        return {}
    all_hashes = np.concatenate([h for _, h in hashes_by_split.values()])
    unique, inverse = np.unique(all_hashes, return_inverse=True)
    pairs = close_pairs(unique, distance)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    offsets = np.cumsum([0] + [len(h) for _, h in hashes_by_split.values()])
    ids = {name: inverse[offsets[k]:offsets[k + 1]] for k, name in enumerate(names)}
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for a, name in enumerate(names):
        idx_a = hashes_by_split[name][0]
        for other in names[: a + 1]:
            idx_b = hashes_by_split[other][0]
            first, second = _first_two(ids[other], idx_b, len(unique))
            # One sample of ``other`` at a different hash within the distance, per hash id.
            neighbour = np.full(len(unique), -1, dtype=np.int64)
            values = first[dst]
            keep = values >= 0
            neighbour[src[keep]] = values[keep]
            h = ids[name]
            if other == name:
                same_hash = np.where(first[h] == idx_a, second[h], first[h])
            else:
                same_hash = first[h]
            twins = np.where(same_hash >= 0, same_hash, neighbour[h])
            has = twins >= 0
            if has.any():
                out.setdefault(name, {})[other] = (idx_a[has], twins[has])
    return out
