"""Checks on the plain fields the ledger records: ids, labels, digests, paths, sizes and dollars.

Each returns the value to store or raises ValueError naming the field, so a bad
call from the run engine fails at the call, not later in an audit.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath

__all__ = ["RESOURCE_KINDS", "amount", "digest", "event_kind", "relative_path", "resource_kind", "run_id", "size",
           "text"]

RESOURCE_KINDS = ("instance", "volume", "firewall", "key", "image", "bucket_key", "slurm_job")

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EVENT_KIND = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_HEX = re.compile(r"[0-9a-f]+")


def text(value: object, field: str, *, optional: bool = False, limit: int = 4096) -> str | None:
    """A non-empty string of at most ``limit`` characters (None allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: expected a non-empty string, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{field}: longer than {limit} characters")
    return value


def run_id(value: object) -> str:
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise ValueError(f"run id {value!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
                         "digit")
    return value


def event_kind(value: object) -> str:
    if not isinstance(value, str) or not _EVENT_KIND.fullmatch(value):
        raise ValueError(f"event kind {value!r}: use lower-case letters, digits and '_.:-', e.g. 'train.epoch'")
    return value


def resource_kind(value: object) -> str:
    if value not in RESOURCE_KINDS:
        raise ValueError(f"resource kind {value!r}: expected one of {', '.join(RESOURCE_KINDS)}")
    return value  # type: ignore[return-value]


def digest(value: object, field: str, *, shortest: int = 64) -> str:
    """A sha256 in lower-case hex (``sha256:`` prefix allowed); ``shortest`` < 64 accepts a leading part of one."""
    if isinstance(value, str) and _HEX.fullmatch(value.removeprefix("sha256:")) and \
            shortest <= len(value.removeprefix("sha256:")) <= 64:
        return value
    length = "64" if shortest == 64 else f"{shortest} to 64"
    raise ValueError(f"{field}: expected a sha256 ({length} lower-case hex digits), got {value!r}")


def relative_path(value: object, field: str) -> str:
    """A POSIX path inside the run's folder: relative, no ``..``."""
    path = text(value, field)
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or ".." in parts:
        raise ValueError(f"{field}: {path!r} must be relative to the run's folder, without '..'")
    return path


def size(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field}: expected a size in bytes (an integer >= 0), got {value!r}")
    return value


def amount(value: object, field: str) -> float | None:
    """Dollars: None, or a finite number not below zero."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{field}: {value!r} is not an amount of dollars (a finite number >= 0)")
    return float(value)
