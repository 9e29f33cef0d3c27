"""Running one S3 request per item on a pool of threads, stopping cleanly at the first failure or Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

__all__ = ["parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], *, threads: int, name: str) -> list[R]:
    """``fn`` over ``items`` on up to ``threads`` threads; the results in the items' order.

    The first exception (KeyboardInterrupt in the calling thread included)
    cancels every item not yet started, waits for those running (one request
    each, so not long), and is raised: once this returns or raises, no call of
    ``fn`` is running or will start. ``concurrent.futures``' own context
    manager would instead run every queued item first.

    Raises:
        Whatever ``fn`` raised first, or KeyboardInterrupt.
    """
    items = list(items)
    if not items:
        return []
    calls = _Calls(fn)
    pool = ThreadPoolExecutor(max(1, min(threads, len(items))), thread_name_prefix=name)
    try:
        futures = [pool.submit(calls.run, item) for item in items]
        for future in as_completed(futures):
            future.result()  # the first failure, as soon as it happens
        return [future.result() for future in futures]
    finally:
        calls.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        calls.wait()


class _Calls:
    """``fn``'s calls, counted, so that parallel_map can wait for every one it let begin.

    The pool's shutdown joins only the threads it knows of: a Ctrl-C that lands inside
    ``submit`` while it starts a thread leaves that thread unknown to it, and free to
    take an item. Here no call begins once stopped, and ``wait`` outlasts those begun.
    """

    def __init__(self, fn: Callable[[T], R]) -> None:
        self.fn = fn
        self.changed = threading.Condition()
        self.stopped = False
        self.running = 0

    def run(self, item: T) -> R | None:
        with self.changed:
            if self.stopped:
                return None
            self.running += 1
        try:
            return self.fn(item)
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopped = True

    def wait(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.running == 0)
