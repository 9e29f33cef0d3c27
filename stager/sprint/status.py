"""Where a sprint stands, read from the ledger: done, running, queued, dollars spent and left, the best result.

A sprint's ledger record has an id starting with ``s``; its experiments are runs
whose ``sprint_id`` names it. Money spent is what its instances have been billed
by Linode's rule (whole started hours), counted to now for those still alive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from stager.errors import UsageError
from stager.ledger.states import is_finished

__all__ = ["ExperimentStatus", "SprintStatus", "is_sprint", "latest_sprint", "sprint_status"]

DEFAULT_OBJECTIVE = ("val_loss", "min")  # the best result when the sprint names no halving metric


@dataclass(frozen=True)
class ExperimentStatus:
    name: str
    run_id: str | None
    state: str  # queued | a ledger state
    reason: str | None
    metrics: dict = field(default_factory=dict)  # the final metrics it reported
    actual_usd: float | None = None  # its share of its instance's bill


@dataclass(frozen=True)
class SprintStatus:
    sprint_id: str
    name: str
    state: str  # the sprint record's state
    budget_usd: float | None
    spent_usd: float
    experiments: tuple[ExperimentStatus, ...]
    objective: tuple[str, str]  # (metric, min|max)
    best: ExperimentStatus | None

    def count(self, *states: str) -> int:
        return sum(1 for e in self.experiments if e.state in states)

    @property
    def left_usd(self) -> float | None:
        return None if self.budget_usd is None else round(self.budget_usd - self.spent_usd, 2)

    def to_json(self) -> dict:
        def one(e: ExperimentStatus) -> dict:
            return {"name": e.name, "run_id": e.run_id, "state": e.state, "reason": e.reason, "metrics": e.metrics,
                    "actual_usd": e.actual_usd}

        return {"sprint_id": self.sprint_id, "name": self.name, "state": self.state,
                "done": self.count("succeeded", "failed", "aborted"), "running": self.count(*_RUNNING),
                "queued": self.count("queued"), "spent_usd": self.spent_usd, "budget_usd": self.budget_usd,
                "left_usd": self.left_usd, "objective": {"metric": self.objective[0], "mode": self.objective[1]},
                "best": one(self.best) if self.best else None, "experiments": [one(e) for e in self.experiments]}


_RUNNING = ("pending", "training", "collecting", "tearing_down")


def is_sprint(run_id: str) -> bool:
    return run_id.startswith("s")


def latest_sprint(ledger) -> str:
    """The newest sprint's id.

    Raises:
        UsageError: the ledger has no sprint.
    """
    for summary in ledger.runs():
        if is_sprint(summary.id) and summary.sprint_id is None:
            return summary.id
    raise UsageError("no sprint in the ledger yet: start one with `stager sprint run FILE`")


def sprint_status(ledger, sprint_id: str, now: datetime | None = None) -> SprintStatus:
    """The status of sprint ``sprint_id`` (a unique prefix is enough).

    Raises:
        UsageError: no such sprint, or the id names a run that is not a sprint.
    """
    record = ledger.run(sprint_id)
    if not is_sprint(record.id):
        raise UsageError(f"{record.id} is a run, not a sprint: see `stager runs show {record.id}`")
    now = now or datetime.now(timezone.utc)
    spec = record.spec.get("sprint") or {}
    halving = spec.get("halving") if isinstance(spec.get("halving"), dict) else {}
    objective = (halving.get("metric") or DEFAULT_OBJECTIVE[0], halving.get("mode") or DEFAULT_OBJECTIVE[1])
    runs = {}
    for summary in ledger.runs(sprint=record.id):
        full = ledger.run(summary.id)
        name = next((e.data.get("experiment") for e in full.events if e.kind == "sprint.experiment"), summary.id)
        ended = next((e.data for e in reversed(full.events) if e.kind == "train.ended"), {})
        last = full.transitions[-1] if full.transitions else None
        runs[name] = ExperimentStatus(name, summary.id, summary.state, last.reason if last else None,
                                      dict(ended.get("metrics") or {}), summary.actual_usd)
    planned = next((e.data for e in record.events if e.kind == "sprint.planned"), {})
    names = [n for i in planned.get("instances", []) for n in i.get("experiments", [])]
    names += [u.get("experiment") for u in planned.get("unplaced", [])]
    experiments = [runs.pop(n) if n in runs else ExperimentStatus(n, None, "queued", None) for n in names]
    experiments += list(runs.values())
    budget = (record.spec.get("budget") or {}).get("max_usd")
    return SprintStatus(record.id, record.pipeline, record.state, budget, _spent(record, now),
                        tuple(experiments), objective, _best(experiments, objective))


def _spent(record, now: datetime) -> float:
    """Billed so far: deleted instances as billed, live ones by the whole hours started until ``now``."""
    if is_finished(record.state) and record.actual_usd is not None:
        return round(record.actual_usd, 2)
    total = 0.0
    for resource in record.resources:
        if resource.hourly_usd is None:
            continue
        if resource.usd is not None:
            total += resource.usd
        elif resource.live:
            alive = (now - resource.created).total_seconds()
            total += max(1, math.ceil(alive / 3600)) * resource.hourly_usd
    return round(total, 2)


def _best(experiments: list[ExperimentStatus], objective: tuple[str, str]) -> ExperimentStatus | None:
    metric, mode = objective
    scored = [e for e in experiments if isinstance(e.metrics.get(metric), (int, float))]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda e: e.metrics[metric])
