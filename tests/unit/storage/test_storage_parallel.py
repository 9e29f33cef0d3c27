"""parallel_map: results in order; the first failure stops what has not started."""

from __future__ import annotations

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
