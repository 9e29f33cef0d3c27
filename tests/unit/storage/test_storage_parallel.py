"""parallel_map: results in order; the first failure stops what has not started."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from stager.storage.parallel import parallel_map


def test_results_come_back_in_the_items_order():
    assert parallel_map(lambda n: n * n, range(50), threads=8, name="square") == [n * n for n in range(50)]
    assert parallel_map(lambda n: n, [], threads=8, name="none") == []


def test_the_first_failure_cancels_the_items_not_started():
    started = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        if n == 3:
            raise ValueError("item 3 failed")
        time.sleep(0.01)
        return n

    with pytest.raises(ValueError, match="item 3 failed"):
        parallel_map(work, range(1000), threads=2, name="failing")
    assert len(started) < 50  # the rest were never run


def test_an_interrupt_while_threads_are_starting_leaves_no_item_running_or_to_start():
    # Ctrl-C lands while the calling thread is still submitting items and starting the
    # pool's threads: a thread started by the interrupted submit() is one the pool's
    # shutdown never joins, and it could go on with an item after parallel_map raised.
    running, started = [0], []
    lock = threading.Lock()

    def work(n: int) -> None:
        with lock:
            started.append(n)
            running[0] += 1
        try:
            if n == 0:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.02)
        finally:
            with lock:
                running[0] -= 1

    for _ in range(5):
        started.clear()
        with pytest.raises(KeyboardInterrupt):
            parallel_map(work, range(400), threads=64, name="interrupted")
        assert running[0] == 0  # every item begun had finished when parallel_map raised
        seen = len(started)
        time.sleep(0.1)
        assert len(started) == seen  # and none began after
