"""The emulator's wall clock: real time plus an offset a test can advance.

Billing, ``created``/``updated`` stamps and event times read this clock, so a test
can say "three hours pass" and assert what an instance cost. How fast statuses move
(provisioning -> running) is real time and is configured separately.
"""

from __future__ import annotations

import datetime as dt
import threading

_FORMAT = "%Y-%m-%dT%H:%M:%S"


class Clock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = dt.timedelta(seconds=offset_seconds)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            offset = self._offset
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + offset

    def advance(self, *, seconds: float = 0, minutes: float = 0, hours: float = 0) -> None:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds, minutes=minutes, hours=hours)

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def stamp(self) -> str:
        """Linode's timestamp format: UTC, seconds, no zone suffix."""
        return format_stamp(self.now())


def format_stamp(moment: dt.datetime) -> str:
    return moment.strftime(_FORMAT)


def parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _FORMAT)
