"""Duration estimates: from the ledger's history, else a measured probe, else the user's; each says which."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stager.ledger import Ledger
from stager.pipeline.spec import BudgetSpec
from stager.sprint.estimates import boot_from_history, estimate, rates_from_history
from stager.sprint.probe import probe_rates

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
BUDGET = BudgetSpec(max_usd=10, max_hours=2, expected_hours=0.5)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _past_run(ledger: Ledger, clock: _Clock, *, plan: str, start: datetime, epoch_s: float, setup_s: float,
              instance: int, boot_s: float) -> None:
    """A finished run: an instance booted in ``boot_s``, then 3 epochs of 100 steps."""
    clock.now = start - timedelta(seconds=boot_s)
    run = ledger.create_run(pipeline="sweep", pipeline_file="p.yaml", target="local", spec={}, versions={}, git=None)
    ledger.transition(run, "provisioning")
    ledger.resource_created(run, kind="instance", provider_id=instance, label=f"i{instance}", plan=plan,
                            hourly_usd=1.5)
    clock.now = start
    ledger.event(run, "instance.ready", {"instance": instance, "plan": plan})
    ledger.transition(run, "training")
    ledger.event(run, "train.started", {"instance": instance, "plan": plan, "rehearsal": False})
    for epoch in range(3):
        clock.now = start + timedelta(seconds=setup_s + epoch_s * (epoch + 1))
        ledger.event(run, "train.epoch", {"epoch": epoch, "step": 100 * (epoch + 1), "metrics": {}})
    ledger.transition(run, "tearing_down")
    ledger.resource_deleted(run, kind="instance", provider_id=instance)
    ledger.transition(run, "succeeded")


@pytest.fixture
def history(tmp_path):
    clock = _Clock()
    with Ledger.open(tmp_path / "ledger.sqlite", clock=clock) as ledger:
        _past_run(ledger, clock, plan="g1-gpu-rtx6000-1", start=T0, epoch_s=30, setup_s=10, instance=1, boot_s=100)
        _past_run(ledger, clock, plan="g2-gpu-rtx4000a1-s", start=T0 + timedelta(hours=1), epoch_s=60, setup_s=20,
                  instance=2, boot_s=200)
        yield ledger


def test_history_on_the_same_plan_gives_time_per_epoch_step_and_setup(history):
    rates = rates_from_history(history, "sweep", "g1-gpu-rtx6000-1")
    assert (rates.seconds_per_epoch, rates.seconds_per_step, rates.setup_s) == pytest.approx((30, 0.3, 10))
    assert rates.source == "history" and "1 past run(s) of sweep on g1-gpu-rtx6000-1" in rates.detail
    five = estimate({"trainer": {"max_epochs": 5}}, rates, BUDGET)
    assert five.hours == pytest.approx((10 + 5 * 30) / 3600)
    assert five.source == "history" and "5 epoch(s)" in five.detail
    steps = estimate({"trainer": {"max_steps": 1000}}, rates, BUDGET)
    assert steps.hours == pytest.approx((10 + 1000 * 0.3) / 3600)


def test_history_of_other_plans_is_used_and_named_when_the_plan_never_ran(history):
    rates = rates_from_history(history, "sweep", "g1-gpu-rtx6000-2")
    assert rates.seconds_per_epoch == pytest.approx(45)  # the median of both runs
    assert "g1-gpu-rtx6000-1" in rates.detail and "g2-gpu-rtx4000a1-s" in rates.detail
    assert rates_from_history(history, "another-pipeline") is None


def test_boot_overhead_comes_from_instance_ready_events(history):
    seconds, detail = boot_from_history(history, "sweep", "g2-gpu-rtx4000a1-s")
    assert seconds == pytest.approx(200) and "past boot" in detail
    assert boot_from_history(history, "nothing-ran") is None


def test_without_rates_the_user_estimate_is_used_and_every_estimate_is_capped():
    user = estimate({"trainer": {"max_epochs": 3}}, None, BUDGET)
    assert (user.hours, user.source) == (0.5, "user") and "budget.expected_hours" in user.detail
    no_guess = estimate({}, None, BudgetSpec(max_usd=1, max_hours=1.5))
    assert no_guess.hours == 1.5 and "budget.max_hours" in no_guess.detail
    from stager.sprint.estimates import Rates

    slow = Rates(seconds_per_epoch=3600, seconds_per_step=None, setup_s=0, source="probe", detail="probe")
    capped = estimate({"trainer": {"max_epochs": 10}}, slow, BUDGET)
    assert capped.hours == BUDGET.max_hours and "capped at budget.max_hours" in capped.detail


def test_a_probe_times_real_training_steps_of_the_config(tmp_path):
    config = {"seed_everything": 0,
              "trainer": {"accelerator": "cpu", "max_epochs": 3,
                          "callbacks": [{"checkpoint": {"monitor": "val_loss"}}]},
              "model": {"class_path": "stager.examples.mnist.MLP", "init_args": {"hidden": 16}},
              "data": {"class_path": "stager.examples.mnist.MNISTDataModule",
                       "init_args": {"data_dir": str(tmp_path / "mnist"), "batch_size": 64, "generate": True}}}
    rates = probe_rates(config, 8)
    assert rates.source == "probe" and rates.seconds_per_step > 0
    assert rates.seconds_per_epoch > rates.seconds_per_step  # an epoch is many steps
    assert "8 steps" in rates.detail
    assert not list(tmp_path.glob("**/*.ckpt"))  # nothing saved
