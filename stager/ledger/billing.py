"""Linode's billing rule for a resource's life: whole started hours, capped at the plan's monthly price."""

from __future__ import annotations

from datetime import datetime

__all__ = ["billed_hours", "billed_usd"]

_HOUR_US = 3_600_000_000  # integer microseconds: no float error at exact hour boundaries


def billed_hours(created: datetime, deleted: datetime) -> int:
    """Started hours between ``created`` and ``deleted``; at least 1 (a one-minute instance costs an hour).

    A deletion stamped before the creation (a clock stepped back) counts as the minimum hour.
    """
    delta = deleted - created
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return max(1, -(-micros // _HOUR_US))


def billed_usd(hours: int, hourly_usd: float | None, monthly_usd: float | None = None) -> float | None:
    """``hours × hourly``, at most ``monthly_usd`` when given; None when the price is unknown.

    The monthly cap is applied per resource life as Linode does within one month;
    a life spanning two calendar months is not split (stager runs are hours, not months).
    """
    if hourly_usd is None:
        return None
    usd = hours * hourly_usd
    if monthly_usd is not None:
        usd = min(usd, monthly_usd)
    return round(usd, 4)
