"""How the ledger writes and reads times: UTC, ISO 8601, microseconds, so text order is time order."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "parse_since", "parse_time", "time_text", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def time_text(moment: datetime) -> str:
    """``2026-11-21T13:07:33.000123+00:00``; a naive datetime is taken as UTC.

    Every stored time has the same width and zone, so SQL can compare them as text.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


_AGE = re.compile(r"(\d+)\s*([mhdw])")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A user's "since": ``2026-11-21``, ``2026-11-21T13:00`` (local time unless a zone is given), or an age
    like ``90m``, ``12h``, ``7d``, ``2w`` before ``now``.

    Raises:
        UsageError: none of those forms.
    """
    from stager.errors import UsageError

    text = text.strip()
    age = _AGE.fullmatch(text)
    if age:
        return (now or utc_now()) - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        # Python 3.10's fromisoformat does not read a trailing "Z".
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise UsageError(f"bad date {text!r}: use YYYY-MM-DD, an ISO time like 2026-11-21T13:00, or an age like "
                         "12h or 7d") from None
    return moment if moment.tzinfo else moment.astimezone()  # naive: the user's local time
