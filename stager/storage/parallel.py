"""Running one S3 request per item on a pool of threads, stopping cleanly at the first failure or Ctrl-C."""

from __future__ import annotations

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
    each, so not long), and is raised. ``concurrent.futures``' own context
    manager would instead run every queued item first.

    Raises:
        Whatever ``fn`` raised first, or KeyboardInterrupt.
    """
    items = list(items)
    if not items:
        return []
    pool = ThreadPoolExecutor(max(1, min(threads, len(items))), thread_name_prefix=name)
    try:
        futures = [pool.submit(fn, item) for item in items]
        for future in as_completed(futures):
            future.result()  # the first failure, as soon as it happens
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
