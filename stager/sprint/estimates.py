"""How long each experiment of a sprint will take, and where that number came from.

In order of trust:

1. **history**: past runs of the same pipeline in the ledger. From their
   ``train.started`` and ``train.epoch`` events: seconds per epoch (and per
   step), and the setup before the first epoch (dataset pull, imports), the
   median over the newest runs, preferring runs on the same plan. An
   instance's boot overhead comes from its ``instance.ready`` event.
2. **probe**: a few training steps of the base config measured on this machine
   (`stager.sprint.probe`). On the local target that is where experiments run;
   for Linode it is a CPU measuring for a GPU, so usually pessimistic.
3. **user**: ``budget.expected_hours`` (else ``budget.max_hours``) per experiment.

Each experiment's own length (its ``max_epochs`` or ``max_steps``) scales the
rates, so a sweep over ``trainer.max_epochs`` is estimated experiment by
experiment. No estimate exceeds ``budget.max_hours``: an experiment is stopped there.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_BOOT_S", "Estimate", "Rates", "boot_from_history", "estimate", "rates_from_history"]

DEFAULT_BOOT_S = 300.0  # a GPU instance from a private image: about 3-5 minutes until SSH answers
HISTORY_RUNS = 20  # the newest runs looked at: older ones may predate a code change


@dataclass(frozen=True)
class Rates:
    seconds_per_epoch: float
    seconds_per_step: float | None  # None when no step counts were seen
    setup_s: float  # before the first step: dataset pull, imports, building the model
    source: str  # "history" | "probe"
    detail: str  # e.g. "median of 3 past runs of mnist-sweep on g1-gpu-rtx6000-1"


@dataclass(frozen=True)
class Estimate:
    hours: float  # one experiment on one GPU, its setup included
    source: str  # "history" | "probe" | "user"
    detail: str  # how the number was made, for the plan and the ledger

    def to_json(self) -> dict:
        return {"hours": round(self.hours, 4), "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class _Timing:
    plan: str | None
    seconds_per_epoch: float
    seconds_per_step: float | None
    setup_s: float


def rates_from_history(ledger, pipeline: str, plan: str | None = None) -> Rates | None:
    """Training rates from the newest past runs of ``pipeline`` (on ``plan`` when any ran there); None if none."""
    timings = [t for t in _timings(ledger, pipeline) if t is not None]
    if not timings:
        return None
    same = [t for t in timings if plan is not None and t.plan == plan]
    chosen = same or timings
    where = f" on {plan}" if same else (f" (on {', '.join(sorted({t.plan or '?' for t in chosen}))})" if plan else "")
    steps = [t.seconds_per_step for t in chosen if t.seconds_per_step]
    return Rates(seconds_per_epoch=statistics.median(t.seconds_per_epoch for t in chosen),
                 seconds_per_step=statistics.median(steps) if steps else None,
                 setup_s=statistics.median(t.setup_s for t in chosen), source="history",
                 detail=f"median of {len(chosen)} past run(s) of {pipeline}{where}")


def _timings(ledger, pipeline: str) -> Iterable[_Timing | None]:
    for summary in ledger.runs(pipeline=pipeline)[:HISTORY_RUNS]:
        if not summary.is_finished:
            continue
        yield _timing(ledger.run(summary.id).events)


def _timing(events) -> _Timing | None:
    """One run's rates from its events: time per epoch between epoch ends, setup before the first."""
    started = next((e for e in events if e.kind == "train.started" and not e.data.get("rehearsal")), None)
    if started is None:
        return None
    epochs = [e for e in events if e.kind == "train.epoch" and e.seq > started.seq]
    if not epochs:
        return None
    first, last = epochs[0], epochs[-1]
    to_first = (first.time - started.time).total_seconds()
    if len(epochs) >= 2:
        per_epoch = (last.time - first.time).total_seconds() / (len(epochs) - 1)
        setup = max(0.0, to_first - per_epoch)
    else:
        per_epoch, setup = to_first, 0.0
    if per_epoch <= 0:
        return None
    per_step = None
    steps = [e.data.get("step") for e in epochs]
    if len(steps) >= 2 and all(isinstance(s, int) for s in steps) and steps[-1] > steps[0]:
        per_step = (last.time - first.time).total_seconds() / (steps[-1] - steps[0])
    elif isinstance(steps[0], int) and steps[0] > 0:
        per_step = per_epoch / steps[0]
    return _Timing(started.data.get("plan"), per_epoch, per_step, setup)


def boot_from_history(ledger, pipeline: str, plan: str | None = None) -> tuple[float, str] | None:
    """Seconds from an instance's creation to SSH answering, the median over past runs of ``pipeline``."""
    boots: list[tuple[str | None, float]] = []
    for summary in ledger.runs(pipeline=pipeline)[:HISTORY_RUNS]:
        record = ledger.run(summary.id)
        created = {r.provider_id: r for r in record.resources if r.kind == "instance"}
        for event in record.events:
            if event.kind == "instance.ready" and str(event.data.get("instance")) in created:
                resource = created[str(event.data.get("instance"))]
                boots.append((resource.plan, (event.time - resource.created).total_seconds()))
    if not boots:
        return None
    same = [s for p, s in boots if p == plan]
    chosen = same or [s for _, s in boots]
    return statistics.median(chosen), f"median of {len(chosen)} past boot(s) of {pipeline}"


def estimate(config: Mapping[str, Any], rates: Rates | None, budget) -> Estimate:
    """One experiment's hours from ``rates`` and its own length in ``config``; ``budget`` when no rates.

    ``budget`` is the pipeline's `BudgetSpec`: ``expected_hours`` (else ``max_hours``) is the
    user's estimate, and ``max_hours`` caps every estimate.
    """
    cap = budget.max_hours
    if rates is None:
        hours = min(budget.estimate_hours, cap)
        return Estimate(hours, "user", f"{budget.estimate_basis} = {budget.estimate_hours:g} h per experiment")
    trainer = config.get("trainer") or {}
    max_steps = trainer.get("max_steps")
    max_epochs = trainer.get("max_epochs")
    if isinstance(max_steps, int) and max_steps > 0 and rates.seconds_per_step and max_epochs is None:
        train_s, length = max_steps * rates.seconds_per_step, f"{max_steps} steps x {rates.seconds_per_step:.3g} s"
    else:
        epochs = max_epochs if isinstance(max_epochs, int) and max_epochs > 0 else 1000  # the Trainer's default
        train_s, length = epochs * rates.seconds_per_epoch, f"{epochs} epoch(s) x {rates.seconds_per_epoch:.3g} s"
    hours = (rates.setup_s + train_s) / 3600
    detail = f"{rates.detail}: {length} + {rates.setup_s:.0f} s setup"
    if hours > cap:
        return Estimate(cap, rates.source, f"{detail}, capped at budget.max_hours = {cap:g}")
    return Estimate(hours, rates.source, detail)
