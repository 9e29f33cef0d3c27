"""Watching a run's money and time while it trains, by the provider's clock.

Linode bills every started hour in full, so the guard does not wait for the
budget to be overrun: it stops training when the *next* billed hour would take
the run over ``budget.max_usd`` and that hour is about to start (within
``margin_s``, the time a teardown needs), and whenever the bill already is over
(a clock that jumped). ``budget.max_hours`` counts from the first instance's
creation. The same look at the instance tells whether it still exists.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stager.errors import JobFailed

__all__ = ["BudgetStop", "InstanceLost", "RunGuard", "Rented"]

SECONDS_PER_HOUR = 3600


class BudgetStop(Exception):
    """Training must stop: ``reason`` says which limit. Not an error: the run ends ``aborted``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstanceLost(JobFailed):
    """An instance of the run no longer exists (deleted or lost by the provider)."""


@dataclass(frozen=True)
class Rented:
    instance_id: int
    created: datetime  # by the provider's clock
    hourly_usd: float


def billed_usd(rented: list[Rented], now: datetime, *, extra_s: float = 0.0) -> float:
    """Dollars billed for ``rented`` at ``now`` (+ ``extra_s``): each started hour, at least one."""
    total = 0.0
    for item in rented:
        alive = max(0.0, (now - item.created).total_seconds() + extra_s)
        total += max(1, math.ceil(alive / SECONDS_PER_HOUR)) * item.hourly_usd
    return round(total, 4)


class RunGuard:
    def __init__(self, cloud, rented: list[Rented], *, max_usd: float, max_hours: float, spent_before: float = 0.0,
                 every_s: float = 10.0, margin_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cloud = cloud
        self.rented = rented
        self.max_usd = max_usd
        self.max_hours = max_hours
        self.spent_before = spent_before  # what the run already spent before training (an image build)
        self.every_s = every_s
        self.margin_s = margin_s
        self._clock = clock
        self._last = -math.inf
        self.dollars: float | None = None  # the latest "so far", for the progress line

    def check(self) -> None:
        """At most every ``every_s``: look the instances up and compare the bill with the budget.

        Raises:
            InstanceLost: an instance is gone.
            BudgetStop: a limit is reached.
        """
        if self._clock() - self._last < self.every_s:
            return
        self._last = self._clock()
        for item in self.rented:
            if self.cloud.get_instance(item.instance_id) is None:
                raise InstanceLost(f"instance {item.instance_id} disappeared mid-training")
        now = self.cloud.now()
        self.dollars = round(self.spent_before + billed_usd(self.rented, now), 2)
        first = min(item.created for item in self.rented)
        hours = (now - first).total_seconds() / SECONDS_PER_HOUR
        if hours >= self.max_hours:
            raise BudgetStop(f"budget.max_hours: trained {hours:.2f} h of at most {self.max_hours:g} h")
        if self.dollars > self.max_usd:
            raise BudgetStop(f"budget.max_usd: ${self.dollars:.2f} billed, over the ${self.max_usd:.2f} budget")
        upcoming = self.spent_before + billed_usd(self.rented, now, extra_s=self.margin_s)
        if upcoming > self.max_usd:
            raise BudgetStop(f"budget.max_usd: the next billed hour would bring the run to ${upcoming:.2f}, over "
                             f"the ${self.max_usd:.2f} budget")
