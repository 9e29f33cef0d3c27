"""A ledger in a temporary folder with a clock the test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stager.ledger import Ledger

START = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """Stands still until ``advance`` is called, so billed hours are exact."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger_path(tmp_path):
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def ledger(ledger_path, clock):
    with Ledger.open(ledger_path, clock=clock) as opened:
        yield opened


@pytest.fixture
def make_run(ledger):
    """``make_run(**overrides) -> run id`` with a plausible spec, versions and git."""

    def make(**overrides) -> str:
        fields = {
            "pipeline": "mnist-mlp",
            "pipeline_file": "pipelines/mnist.yaml",
            "target": "local",
            "spec": {"name": "mnist-mlp", "compute": {"type": "g1-gpu-rtx6000-1", "nodes": 1},
                     "budget": {"max_usd": 5}},
            "versions": {"stager": "0.1.0", "torch": "2.13.0", "python": "3.11.7"},
            "git": {"commit": "0123abcd", "dirty": True},
        }
        fields.update(overrides)
        return ledger.create_run(**fields)

    return make
