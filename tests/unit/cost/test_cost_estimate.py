"""Cost estimates: whole started hours, per instance, per node; builder, rehearsal and staging lines; budget refusal."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from stager.cost import BudgetExceeded, billed_hours, catalogue_prices, check_budget, estimate_run, prices_from_plans
from stager.errors import EXIT_USAGE, ConfigError, UsageError
from stager.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[3]
PRICES = {"g1-gpu-rtx6000-1": 1.5, "g1-gpu-rtx6000-2": 3.0, "g6-standard-2": 0.036, "g6-dedicated-2": 0.054,
          "g6-nanode-1": 0.0075}


@pytest.fixture(scope="module")
def base_spec():
    """pipelines/exp.yaml: one g1-gpu-rtx6000-1, expected 0.25 h, image built by a g6-standard-2."""
    here = Path.cwd()
    try:
        os.chdir(ROOT)
        return load_pipeline(ROOT / "pipelines" / "exp.yaml", environ={}, check_train=False)
    finally:
        os.chdir(here)


def with_(spec, **sections):
    """``spec`` with fields of its sections replaced: with_(spec, compute={"nodes": 2})."""
    changes = {name: dataclasses.replace(getattr(spec, name), **fields) for name, fields in sections.items()}
    return dataclasses.replace(spec, **changes)


@pytest.mark.parametrize("seconds,hours", [(0, 0), (0.001, 1), (1, 1), (3599, 1), (3600, 1), (3600.5, 2),
                                           (7200, 2), (7201, 3), (86400, 24)])
def test_billed_hours_are_whole_started_hours(seconds, hours):
    assert billed_hours(seconds) == hours


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_billed_hours_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        billed_hours(bad)


def test_a_short_run_pays_one_hour_and_the_build(base_spec):
    estimate = estimate_run(base_spec, PRICES)
    training, build = estimate.lines
    assert (training.item, training.plan, training.count, training.hours, training.usd) == (
        "training", "g1-gpu-rtx6000-1", 1, 1, 1.5)
    assert training.hours_from == "budget.expected_hours = 0.25"
    assert (build.item, build.plan, build.hours, build.usd) == ("image build", "g6-standard-2", 1, 0.036)
    assert estimate.total_usd == pytest.approx(1.536)


def test_hours_round_up_and_nodes_multiply(base_spec):
    spec = with_(base_spec, compute={"nodes": 3}, budget={"expected_hours": 1.01, "max_hours": 2})
    (training,) = estimate_run(spec, PRICES, build_image=False).lines
    assert (training.count, training.hours, training.usd) == (3, 2, 9.0)
    spec = with_(base_spec, budget={"expected_hours": 2.0, "max_hours": 2})
    assert estimate_run(spec, PRICES, build_image=False).lines[0].hours == 2  # exactly two hours are two
    spec = with_(base_spec, budget={"expected_hours": 0.1 * 30, "max_hours": 4})  # 3.0000000000000004
    assert estimate_run(spec, PRICES, build_image=False).lines[0].hours == 3


def test_max_hours_when_nothing_is_expected(base_spec):
    spec = with_(base_spec, budget={"expected_hours": None, "max_hours": 2.5})
    (training,) = estimate_run(spec, PRICES, build_image=False).lines
    assert training.hours == 3
    assert training.hours_from == "budget.max_hours = 2.5"


def test_rehearsal_and_volume_staging_lines(base_spec):
    spec = with_(base_spec, rehearse={"enabled": True, "type": "g6-dedicated-2", "max_hours": 1.5},
                 storage={"via": "volume", "volume_size_gb": 20})
    estimate = estimate_run(spec, PRICES, build_image=False)
    items = {line.item: line for line in estimate.lines}
    assert set(items) == {"training", "rehearsal", "volume staging"}
    assert (items["rehearsal"].plan, items["rehearsal"].hours, items["rehearsal"].usd) == ("g6-dedicated-2", 2, 0.108)
    assert items["rehearsal"].hours_from == "rehearse.max_hours = 1.5"
    assert (items["volume staging"].plan, items["volume staging"].usd) == ("g6-nanode-1", 0.0075)
    assert estimate.total_usd == pytest.approx(1.5 + 0.108 + 0.0075)


def test_the_monthly_price_caps_an_instance(base_spec):
    spec = with_(base_spec, compute={"nodes": 2}, budget={"expected_hours": 800, "max_hours": 1000})
    (training,) = estimate_run(spec, PRICES, build_image=False, monthly_caps={"g1-gpu-rtx6000-1": 1000}).lines
    assert training.capped
    assert training.usd == 2000.0  # 800 h x $1.50 = $1200 per instance, capped at $1000


def test_an_unpriced_plan_is_located(base_spec):
    with pytest.raises(ConfigError, match="no price for plan `g1-gpu-rtx6000-1`") as caught:
        estimate_run(base_spec, {"g6-standard-2": 0.036})
    assert caught.value.field == "compute.type"
    assert caught.value.line is not None


def test_offline_and_live_prices(base_spec):
    hourly, monthly = catalogue_prices()
    assert hourly["g1-gpu-rtx6000-1"] == 1.5 and monthly["g1-gpu-rtx6000-1"] == 1000.0
    assert estimate_run(base_spec, hourly, monthly_caps=monthly).total_usd == pytest.approx(1.536)

    from stager.cloud.types import PlanInfo

    plans = [PlanInfo("g1-gpu-rtx6000-1", "RTX", 1, 8, 32768, 655360, 1.5, 1000.0, {"us-east": 1.8}),
             PlanInfo("g6-standard-2", "4GB", 0, 2, 4096, 81920, 0.036, 24.0)]
    hourly, monthly = prices_from_plans(plans, "us-east")
    assert hourly == {"g1-gpu-rtx6000-1": 1.8, "g6-standard-2": 0.036}
    estimate = estimate_run(base_spec, hourly, monthly_caps=monthly, prices_from="/linode/types")
    assert estimate.total_usd == pytest.approx(1.836)
    assert "prices from /linode/types" in estimate.summary()


def test_within_budget_passes(base_spec):
    estimate = estimate_run(base_spec, PRICES)
    check_budget(estimate, base_spec.budget)  # $1.54 of $3
    check_budget(estimate, dataclasses.replace(base_spec.budget, max_usd=estimate.total_usd))  # exactly the budget


def test_over_budget_is_refused_in_one_line(base_spec):
    spec = with_(base_spec, compute={"nodes": 2}, budget={"max_usd": 2.5, "expected_hours": 0.5})
    estimate = estimate_run(spec, PRICES)
    with pytest.raises(BudgetExceeded) as caught:
        check_budget(estimate, spec.budget)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("estimated $3.04 (training: 2 x g1-gpu-rtx6000-1 x 1 h x $1.5/h = $3.00")
    assert "over the budget of $2.50 (budget.max_usd)" in message
    assert "--yes" in message
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == EXIT_USAGE


def test_the_estimate_as_a_record(base_spec):
    record = estimate_run(base_spec, PRICES).to_dict()
    assert record["total_usd"] == pytest.approx(1.536)
    assert [line["item"] for line in record["lines"]] == ["training", "image build"]
    assert record["lines"][0]["hours_from"] == "budget.expected_hours = 0.25"
