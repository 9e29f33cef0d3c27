"""Values as people read them: times in local time, durations in words, dollars with cents.

One spelling for the terminal (`stager runs`, `stager cost report`) and the browser (`stager ui`),
so a run reads the same in both. Each returns plain text; a page escapes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["duration", "usd", "when"]


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def usd(amount: float | None, *, signed: bool = False) -> str:
    if amount is None:
        return "-"
    text = f"${abs(amount):,.2f}"
    if amount < 0:
        return "-" + text
    return ("+" + text) if signed and amount > 0 else text
