"""Polling with backoff, and how long to wait when Linode says "too many requests".

Linode's statuses change on their own time (a GPU instance can take minutes to
boot), so every wait in stager polls with a growing interval and a hard timeout,
and says on timeout what it was waiting for and what it saw last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from stager.cloud.errors import CloudTimeout

T = TypeVar("T")

DEFAULT_RETRY_AFTER_CAP = 60.0  # seconds; a longer Retry-After is waited in several rounds


@dataclass(frozen=True)
class Backoff:
    """Intervals that grow from ``initial`` by ``factor`` up to ``maximum`` seconds.

    Raises:
        ValueError: (on construction) ``initial`` not positive, ``maximum`` below it, or ``factor`` below 1.
    """

    initial: float  # the first interval
    maximum: float  # no interval is longer
    factor: float = 1.6  # growth per step

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError(f"invalid backoff {self!r}: need 0 < initial <= maximum and factor >= 1")

    def delays(self) -> Iterator[float]:
        """The intervals, forever: initial, initial*factor, ..., maximum, maximum, ...

        Raises:
            Nothing.
        """
        delay = self.initial
        while True:
            yield delay
            delay = min(self.maximum, delay * self.factor)


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, backoff: Backoff,
               describe_last: Callable[[], str] | None = None) -> T:
    """Call ``check`` until it returns something other than None, and return that.

    ``check`` is called at once, then after each of ``backoff``'s intervals; the
    last sleep is shortened so the whole wait never exceeds ``timeout`` by more
    than one call to ``check``. An exception from ``check`` ends the wait and
    propagates (that is how a failed boot stops a wait for "running").

    Raises:
        CloudTimeout: ``timeout`` seconds passed; the message names ``what`` and,
            when ``describe_last`` is given, what it returns (e.g. the last status).
    """
    deadline = time.monotonic() + timeout
    delays = backoff.delays()
    while True:
        result = check()
        if result is not None:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            last = None
            if describe_last is not None:
                try:
                    last = describe_last()
                except Exception:  # noqa: BLE001 - a failing description must not hide the timeout
                    last = None
            raise CloudTimeout(what, timeout=timeout, last=last)
        time.sleep(min(next(delays), left))


def retry_after_seconds(headers, *, default: float, cap: float = DEFAULT_RETRY_AFTER_CAP) -> float:
    """What a 429's ``Retry-After`` asks for (seconds form; an HTTP date counts as ``default``), capped.

    A missing, unreadable or negative value gives ``default``.

    Raises:
        Nothing.
    """
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(raw) if raw is not None else default
    except (TypeError, ValueError):
        seconds = default
    if seconds < 0:
        seconds = default
    return min(seconds, cap)
