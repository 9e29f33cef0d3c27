"""The budget guard: whole started hours, stopping before the next hour would overrun the budget."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stager.run.guard import BudgetStop, InstanceLost, Rented, RunGuard, billed_usd

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class _Cloud:
    """The two questions the guard asks of a cloud: the provider's time and whether an instance exists."""

    def __init__(self) -> None:
        self.time = T0
        self.gone: set[int] = set()

    def now(self) -> datetime:
        return self.time

    def get_instance(self, instance_id: int):
        return None if instance_id in self.gone else object()


def test_billed_usd_counts_started_hours():
    rented = [Rented(1, T0, 1.5)]
    assert billed_usd(rented, T0) == 1.5  # a new instance already bills its first hour
    assert billed_usd(rented, T0 + timedelta(minutes=59)) == 1.5
    assert billed_usd(rented, T0 + timedelta(minutes=61)) == 3.0
    assert billed_usd(rented + [Rented(2, T0, 0.5)], T0 + timedelta(hours=2, seconds=1)) == 6.0


def _guard(cloud, **kw) -> RunGuard:
    return RunGuard(cloud, [Rented(1, T0, 1.5)], every_s=0, **{"max_usd": 10, "max_hours": 5, "margin_s": 300, **kw})


def test_within_budget_goes_on_and_reports_dollars():
    cloud = _Cloud()
    guard = _guard(cloud)
    cloud.time = T0 + timedelta(minutes=30)
    guard.check()
    assert guard.dollars == 1.5


def test_stops_before_the_hour_that_would_overrun():
    cloud = _Cloud()
    guard = _guard(cloud, max_usd=3.0)  # two hours fit, a third does not
    cloud.time = T0 + timedelta(minutes=90)
    guard.check()  # $3.00 billed: at the budget, not over
    cloud.time = T0 + timedelta(minutes=116)  # the third hour starts in 4 minutes, within the margin
    with pytest.raises(BudgetStop, match="next billed hour would bring the run to \\$4.50"):
        guard.check()


def test_a_clock_that_jumped_is_over_budget_at_once():
    cloud = _Cloud()
    guard = _guard(cloud, max_usd=3.0, max_hours=100)
    cloud.time = T0 + timedelta(hours=3, minutes=10)
    with pytest.raises(BudgetStop, match=r"\$6.00 billed, over the \$3.00 budget"):
        guard.check()


def test_max_hours_and_spending_before_training():
    cloud = _Cloud()
    cloud.time = T0 + timedelta(hours=2)
    with pytest.raises(BudgetStop, match="max_hours"):
        _guard(cloud, max_hours=2).check()
    cloud.time = T0 + timedelta(minutes=10)
    with pytest.raises(BudgetStop, match="max_usd"):
        _guard(cloud, max_usd=2.0, spent_before=1.0).check()  # an image build already cost $1


def test_a_vanished_instance_is_reported():
    cloud = _Cloud()
    cloud.gone.add(1)
    with pytest.raises(InstanceLost, match="instance 1 disappeared"):
        _guard(cloud).check()


def test_checks_at_most_every_interval():
    cloud = _Cloud()
    ticks = iter([0.0, 0.0, 5.0, 11.0, 11.0])
    guard = RunGuard(cloud, [Rented(1, T0, 1.5)], max_usd=10, max_hours=5, every_s=10, clock=lambda: next(ticks))
    guard.check()
    cloud.gone.add(1)
    guard.check()  # 5 s later: not looked at
    with pytest.raises(InstanceLost):
        guard.check()
