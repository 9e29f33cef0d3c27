"""Ctrl-C and SIGTERM as one interruption that cleanup code can rely on.

A paid resource must be deleted however the process is asked to stop. Inside
`interruptible()`, SIGTERM raises `KeyboardInterrupt` in the main thread just as
Ctrl-C does, so the same ``finally`` blocks run for both. Inside `shielded()`
(the teardown itself), both signals are held back until the block ends, so a
second Ctrl-C cannot cut a teardown short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["interruptible", "shielded"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt for the duration of the block (main thread only)."""
    if not _in_main_thread():
        yield
        return

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded(on_signal: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """Hold SIGINT and SIGTERM back until the block ends; then re-raise as KeyboardInterrupt.

    ``on_signal`` is told about each held-back signal (to say "still cleaning up").
    The yielded list collects the names of the signals received.
    """
    received: list[str] = []
    if not _in_main_thread():
        yield received
        return

    def hold(signum, frame):
        name = signal.Signals(signum).name
        received.append(name)
        if on_signal is not None:
            on_signal(name)

    previous = {sig: signal.signal(sig, hold) for sig in _SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt(f"signal {received[0]} during cleanup")
