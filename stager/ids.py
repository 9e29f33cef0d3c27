"""Ids for what stager does: sortable by time, unique, and usable inside Linode labels."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

__all__ = ["new_id"]


def new_id(kind: str, now: datetime | None = None) -> str:
    """``<kind><UTC yyyymmdd-hhmmss>-<4 hex>``, e.g. ``b20261121-130733-cd6d`` for a build."""
    now = now or datetime.now(timezone.utc)
    return f"{kind}{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
