"""What a run will cost before it starts, and the refusal when that is over budget.

Linode bills an instance by the hour, every started hour in full, from create to
delete (a powered-off instance is still billed), capped at the plan's monthly
price. So a run's cost is, per instance it creates: hourly price x whole hours
(at least one) x how many. `estimate_run` adds up:

- **training**: ``compute.type`` x ``compute.nodes`` for ``budget.expected_hours``
  (else ``budget.max_hours``), rounded up to whole hours;
- **image build**: the recipe's builder plan for one hour, when the gold image
  has to be built (its hash is new); a build finishes within the hour;
- **rehearsal**: ``rehearse.type`` for ``rehearse.max_hours``, when rehearsal is on;
- **volume staging**: the smallest instance for one hour, when datasets go to a
  volume (it copies the data onto the volume).

Prices come from the caller: the live ``/linode/types`` at run time, or
`catalogue_prices` offline. Not included: Object Storage ($5/month per account
and transfer), volumes and custom images (billed per GB-month), network
transfer, and taxes.

This module reads a `stager.pipeline.PipelineSpec` and its `BudgetSpec` by their
fields only; it imports nothing from the pipeline layer above it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stager.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from stager.pipeline.spec import BudgetSpec, PipelineSpec

__all__ = ["BudgetExceeded", "CostEstimate", "CostLine", "billed_hours", "catalogue_prices", "check_budget",
           "estimate_run", "prices_from_plans"]

SECONDS_PER_HOUR = 3600
BUILD_HOURS = 1  # a gold-image build (boot, install, smoke tests, capture) finishes within its first hour
STAGING_PLAN = "g6-nanode-1"  # what stager.storage.volume.sync_to_volume rents to fill a volume
STAGING_HOURS = 1


class BudgetExceeded(UsageError):
    """The estimated cost of a run is above its budget; nothing was started."""


@dataclass(frozen=True)
class CostLine:
    item: str  # what is rented: "training", "image build", "rehearsal", "volume staging"
    plan: str  # Linode plan id
    count: int  # instances of that plan
    hours: int  # billed hours per instance: whole started hours, at least 1
    hourly_usd: float  # price of one instance-hour
    usd: float  # what the line costs: count x min(hours x hourly, monthly cap)
    hours_from: str  # where ``hours`` came from, e.g. "budget.expected_hours = 0.5"
    capped: bool = False  # the monthly price capped it

    def describe(self) -> str:
        count = f"{self.count} x " if self.count != 1 else ""
        cap = " (monthly cap)" if self.capped else ""
        return (f"{self.item}: {count}{self.plan} x {self.hours} h x ${self.hourly_usd:g}/h = ${self.usd:.2f}{cap}"
                f" [{self.hours_from}]")


@dataclass(frozen=True)
class CostEstimate:
    lines: tuple[CostLine, ...]
    prices_from: str  # where the hourly prices came from: "/linode/types" or "offline catalogue"

    @property
    def total_usd(self) -> float:
        return round(sum(line.usd for line in self.lines), 4)

    def summary(self) -> str:
        """One line: the total and what it is made of."""
        parts = "; ".join(line.describe() for line in self.lines)
        return f"estimated ${self.total_usd:.2f} ({parts}; prices from {self.prices_from})"

    def to_dict(self) -> dict[str, Any]:
        """For the run folder and the ledger."""
        return {
            "total_usd": self.total_usd,
            "prices_from": self.prices_from,
            "lines": [{"item": ln.item, "plan": ln.plan, "count": ln.count, "hours": ln.hours,
                       "hourly_usd": ln.hourly_usd, "usd": ln.usd, "hours_from": ln.hours_from, "capped": ln.capped}
                      for ln in self.lines],
        }


def billed_hours(seconds: float) -> int:
    """The hours Linode bills for an instance that lived ``seconds``: every started hour, 0 for none.

    Raises:
        ValueError: ``seconds`` is negative or not a finite number.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"an instance cannot live {seconds!r} seconds")
    return math.ceil(seconds / SECONDS_PER_HOUR)


def _billed_for(hours: float) -> int:
    # Rounded first so that 0.1 * 3 hours is not billed as 1.0000000000000002 -> 2 hours.
    return max(1, math.ceil(round(hours, 9)))


def estimate_run(spec: PipelineSpec, prices: Mapping[str, float], *, build_image: bool = True,
                 monthly_caps: Mapping[str, float] | None = None,
                 prices_from: str = "offline catalogue") -> CostEstimate:
    """The cost of running ``spec`` once, line by line.

    ``prices`` maps a plan id to its hourly USD price in the run's region;
    ``monthly_caps`` (optional) to its monthly price, which caps one instance's
    charge. ``build_image`` says whether the gold image must be built first (its
    recipe hash has no image yet); the caller knows, loading a spec does not.

    Raises:
        ConfigError: ``prices`` has no price for a plan the run rents; located at
            the field that names the plan.
    """
    caps = monthly_caps or {}

    def line(item: str, plan: str, count: int, hours: float, hours_from: str, field: str) -> CostLine:
        if plan not in prices:
            raise _unpriced(spec, field, plan, prices_from)
        hourly = float(prices[plan])
        billed = _billed_for(hours)
        per_instance = billed * hourly
        cap = caps.get(plan)
        capped = cap is not None and per_instance > cap
        if capped:
            per_instance = float(cap)
        return CostLine(item, plan, count, billed, hourly, round(count * per_instance, 4), hours_from, capped)

    budget = spec.budget
    lines = [line("training", spec.compute.type, spec.compute.nodes, budget.estimate_hours,
                  f"{budget.estimate_basis} = {budget.estimate_hours:g}", "compute.type")]
    if build_image:
        lines.append(line("image build", spec.image.recipe.builder_type, 1, BUILD_HOURS,
                          "one billed hour per build", "image"))
    if spec.rehearse.enabled:
        lines.append(line("rehearsal", spec.rehearse.type, 1, spec.rehearse.max_hours,
                          f"rehearse.max_hours = {spec.rehearse.max_hours:g}", "rehearse"))
    if spec.storage.via == "volume" and spec.data:
        lines.append(line("volume staging", STAGING_PLAN, 1, STAGING_HOURS, "one billed hour to fill the volume",
                          "storage.via"))
    return CostEstimate(tuple(lines), prices_from)


def _unpriced(spec: PipelineSpec, field: str, plan: str, prices_from: str) -> ConfigError:
    problem = f"no price for plan `{plan}` in the {prices_from}"
    hint = "check the plan id against `linode-cli linodes types`"
    error = getattr(spec, "error", None)
    return error(field, problem, hint) if error else ConfigError(problem, field=field, hint=hint)


def check_budget(estimate: CostEstimate, budget: BudgetSpec) -> None:
    """Refuse a run whose estimate is above ``budget.max_usd``.

    Raises:
        BudgetExceeded: one line naming the estimate, the budget and ``--yes``.
    """
    if estimate.total_usd > budget.max_usd:
        raise BudgetExceeded(
            f"{estimate.summary()} is over the budget of ${budget.max_usd:.2f} (budget.max_usd); lower "
            f"compute.nodes or the hours, raise budget.max_usd, or pass --yes to start anyway")


def catalogue_prices() -> tuple[dict[str, float], dict[str, float]]:
    """Hourly prices and monthly caps by plan id from stager's offline copy of Linode's catalogue."""
    from stager.emulator.catalog import PLANS

    return {p.id: p.hourly for p in PLANS}, {p.id: p.monthly for p in PLANS}


def prices_from_plans(plans: Iterable, region: str) -> tuple[dict[str, float], dict[str, float]]:
    """Hourly prices in ``region`` and monthly caps from the live catalogue (``stager.cloud.PlanInfo`` items)."""
    plans = list(plans)
    return {p.id: p.hourly_in(region) for p in plans}, {p.id: p.monthly_usd for p in plans}
