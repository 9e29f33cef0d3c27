"""Booting several instances at once: the nodes of a multi-node run wait for one boot, not one after another.

Each instance boots in a thread of its own (`stager.run.instance.provision`). The
creations themselves pass a `CreateGate` one at a time, each recorded (so the
teardown knows it) before the next may start; the boots, which take minutes on
Linode, overlap. When the run is interrupted, or one node cannot boot, the gate
closes: the teardown then sees every instance that was created, and no thread
creates another afterwards (not even a boot's retry). A gate may have a parent (a
sprint's, for its groups of nodes): closing the parent stops every child's
creations, while a child closing leaves the parent, and the sprint's other
instances, open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TypeVar

from stager.errors import Interrupted

__all__ = ["CreateGate", "boot_all"]

T = TypeVar("T")
_POLL_S = 0.2  # the main thread wakes this often, so Ctrl-C and SIGTERM reach it while the nodes boot


class CreateGate:
    """Lets one instance creation through at a time until it is closed (or its ``parent`` is)."""

    def __init__(self, parent: CreateGate | None = None) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._parent = parent  # e.g. a sprint's gate, closed when the whole sprint stops

    @contextmanager
    def creating(self) -> Iterator[None]:
        """Hold the gate (and its parent's) while an instance is created and recorded.

        Raises:
            Interrupted: the gate or its parent is closed (the run is stopping).
        """
        with self._parent.creating() if self._parent is not None else nullcontext(), self._lock:
            if self._closed:
                raise Interrupted("the run is stopping: no more instances are created")
            yield

    def close(self) -> None:
        """No more creations; returns once a creation under way has been recorded."""
        with self._lock:
            self._closed = True


class _Boot(threading.Thread):
    def __init__(self, index: int, boot: Callable[[int, CreateGate], T], gate: CreateGate) -> None:
        super().__init__(name=f"boot-node{index}", daemon=True)
        self.index, self.boot, self.gate = index, boot, gate
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.boot(self.index, self.gate)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.error = exc


def boot_all(count: int, boot: Callable[[int, CreateGate], T], parent: CreateGate | None = None) -> list[T]:
    """``boot(k, gate)`` for k in 0 .. count - 1, all at once; their results in that order.

    ``boot`` must create its instance inside ``gate.creating()`` and record it there. The gate is this
    call's own, closed when a boot fails or the caller is interrupted; ``parent`` is one the caller may
    close as well (a sprint's, when it stops), which does not close with it.

    Raises:
        The first failure of any boot (the gate is closed at once; instances that
        did boot are recorded, for the caller's teardown), or KeyboardInterrupt.
    """
    gate = CreateGate(parent)
    threads = [_Boot(k, boot, gate) for k in range(count)]
    for thread in threads:
        thread.start()
    try:
        while True:
            failed = next((t for t in threads if t.error is not None), None)
            if failed is not None:
                raise failed.error
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(_POLL_S)
    except BaseException:
        gate.close()
        raise
    return [t.result for t in threads]
