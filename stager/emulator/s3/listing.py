"""ListObjects semantics over a sorted key list: prefix, delimiter roll-up, paging."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    keys: list[str]
    common_prefixes: list[str]
    truncated: bool
    last: str | None  # last key or common prefix returned: the next page starts after it


def list_page(keys: Sequence[str], *, prefix: str = "", delimiter: str = "", after: str = "", max_keys: int = 1000) -> Page:
    """One page of a listing; ``keys`` must be sorted (str order == S3's UTF-8 byte order).

    A common prefix counts as one entry towards ``max_keys``, as in S3. A common
    prefix that sorts at or before ``after`` was returned by an earlier page
    (keys below it sort after it), so it is skipped rather than repeated.
    """
    out_keys: list[str] = []
    out_prefixes: list[str] = []
    last: str | None = None
    if max_keys <= 0:
        return Page(out_keys, out_prefixes, False, None)
    i = bisect_left(keys, prefix)
    if after:
        i = max(i, bisect_right(keys, after))
    n = len(keys)
    while i < n:
        key = keys[i]
        if not key.startswith(prefix):
            break  # keys sharing a prefix are contiguous in sorted order
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            cp = key[: cut + len(delimiter)]
            if not (after and cp <= after):
                if len(out_keys) + len(out_prefixes) == max_keys:
                    return Page(out_keys, out_prefixes, True, last)
                out_prefixes.append(cp)
                last = cp
            # Jump past every key under this common prefix (contiguous, so bisectable).
            i = bisect_left(keys, True, lo=i, key=lambda k, cp=cp: not k.startswith(cp))
            continue
        if len(out_keys) + len(out_prefixes) == max_keys:
            return Page(out_keys, out_prefixes, True, last)
        out_keys.append(key)
        last = key
        i += 1
    return Page(out_keys, out_prefixes, False, last)
