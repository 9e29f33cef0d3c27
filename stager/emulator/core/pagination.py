"""Linode's page envelope: ``{"data", "page", "pages", "results"}``.

linode_api4 learns the page size from the length of page one, so every page but
the last must be full; page sizes outside 25..500 are a 400, as on Linode.
"""

from __future__ import annotations

import math

from stager.emulator.core.errors import field_error

DEFAULT_PAGE_SIZE = 100
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 25, 500


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"{name} must be an integer") from None


def paginate(items: list[dict], query: dict[str, str]) -> dict:
    page_size = _int_param(query, "page_size", DEFAULT_PAGE_SIZE)
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise field_error("page_size", f"Must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}")
    pages = max(1, math.ceil(len(items) / page_size))
    page = _int_param(query, "page", 1)
    if page < 1:
        raise field_error("page", "Must be 1 or greater")
    start = (page - 1) * page_size
    return {"data": items[start:start + page_size], "page": page, "pages": pages, "results": len(items)}
