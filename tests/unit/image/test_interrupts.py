"""SIGTERM interrupts like Ctrl-C; a shielded block finishes before either takes effect."""

from __future__ import annotations

import os
import signal

import pytest

from stager.interrupts import interruptible, shielded


def test_sigterm_becomes_keyboard_interrupt_and_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interruptible():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_shielded_block_completes_then_reraises():
    finished = []
    told = []
    with pytest.raises(KeyboardInterrupt):
        with shielded(told.append):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append(True)
    assert finished == [True]
    assert told == ["SIGINT", "SIGTERM"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_shielded_without_signals_is_silent():
    with shielded() as received:
        pass
    assert received == []
