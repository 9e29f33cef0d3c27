"""Prices and estimates: what a run will cost before it starts, and the budget it must fit.

    from stager.cost import catalogue_prices, check_budget, estimate_run

    hourly, monthly = catalogue_prices()            # or prices_from_plans(cloud.plans(), region) at run time
    estimate = estimate_run(spec, hourly, monthly_caps=monthly, build_image=image_is_new)
    check_budget(estimate, spec.budget)             # BudgetExceeded unless --yes
"""

from __future__ import annotations

from stager.cost.estimate import (
    BudgetExceeded,
    CostEstimate,
    CostLine,
    billed_hours,
    catalogue_prices,
    check_budget,
    estimate_run,
    prices_from_plans,
)

__all__ = ["BudgetExceeded", "CostEstimate", "CostLine", "billed_hours", "catalogue_prices", "check_budget",
           "estimate_run", "prices_from_plans"]
