"""Backoff intervals, wait_until and Retry-After parsing."""

from __future__ import annotations

import itertools
import time

import pytest

from stager.cloud.errors import CloudError, CloudTimeout
from stager.cloud.waiting import Backoff, retry_after_seconds, wait_until


def test_backoff_grows_by_its_factor_up_to_the_maximum():
    delays = list(itertools.islice(Backoff(1, 5, factor=2).delays(), 6))
    assert delays == [1, 2, 4, 5, 5, 5]
    assert next(Backoff(0.5, 0.5).delays()) == 0.5


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(0, 1, 1.6), (2, 1, 1.6), (1, 2, 0.5), (-1, 1, 2)])
def test_backoff_refuses_nonsense(initial, maximum, factor):
    with pytest.raises(ValueError):
        Backoff(initial, maximum, factor)


def test_wait_until_returns_the_first_non_none_result():
    answers = iter([None, None, "ready"])
    calls = []

    def check():
        calls.append(1)
        return next(answers)

    assert wait_until(check, timeout=5, what="it", backoff=Backoff(0.001, 0.002)) == "ready"
    assert len(calls) == 3


def test_wait_until_keeps_falsy_results_that_are_not_none():
    assert wait_until(lambda: 0, timeout=1, what="zero", backoff=Backoff(0.01, 0.01)) == 0


def test_wait_until_times_out_naming_what_it_awaited_and_the_last_status():
    started = time.monotonic()
    with pytest.raises(CloudTimeout) as caught:
        wait_until(lambda: None, timeout=0.2, what="instance 7 to be running", backoff=Backoff(0.02, 0.05),
                   describe_last=lambda: "booting")
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0
    message = str(caught.value)
    assert "instance 7 to be running" in message and "booting" in message and "0.2 s" in message
    assert isinstance(caught.value, CloudError) and caught.value.exit_code == 1
    assert caught.value.last == "booting"


def test_a_failing_description_does_not_hide_the_timeout():
    def broken() -> str:
        raise RuntimeError("no")

    with pytest.raises(CloudTimeout):
        wait_until(lambda: None, timeout=0.01, what="x", backoff=Backoff(0.01, 0.01), describe_last=broken)


def test_an_error_from_the_check_ends_the_wait():
    def check():
        raise CloudError("boot failed")

    with pytest.raises(CloudError, match="boot failed"):
        wait_until(check, timeout=5, what="x", backoff=Backoff(0.01, 0.01))


def test_retry_after_reads_seconds_and_caps_them():
    assert retry_after_seconds({"Retry-After": "3"}, default=1) == 3
    assert retry_after_seconds({"Retry-After": "3600"}, default=1, cap=60) == 60
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, default=1.5) == 1.5
    assert retry_after_seconds({"Retry-After": "-4"}, default=2) == 2
    assert retry_after_seconds({}, default=0.5) == 0.5
    assert retry_after_seconds(None, default=0.5) == 0.5
