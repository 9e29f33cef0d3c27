"""Runs status changes later, so statuses move as Linode's do (provisioning -> booting -> running).

One thread and a heap of deadlines. A delay of 0 still goes through the thread,
so the API call that started a change returns before the change happens, as on Linode.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("stager.emulator")


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = False  # an action is running: popped from the heap but not done
        self._thread = threading.Thread(target=self._run, name="stager-emulator-scheduler", daemon=True)
        self._thread.start()

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), next(self._counter), action))
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and not self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._heap)
                self._busy = True
            try:
                action()
            except Exception:  # a failing transition must not stop every later one
                log.exception("emulator: scheduled action failed")
            finally:
                with self._cond:
                    self._busy = False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        self._thread.join(timeout=5)
