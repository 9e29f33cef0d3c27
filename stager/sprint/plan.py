"""A sprint's plan: which instances, which experiments on each and when, for how much, and against what.

``stager sprint plan FILE`` prints it; ``stager sprint run FILE`` executes it.
The plan is made of:

- each experiment's duration (`stager.sprint.estimates`: history, probe or the
  user's estimate, each saying so) and the instance boot overhead;
- prices from the cached ``/linode/types`` (`stager.cost.prices`) in
  ``compute.region`` for every plan ``sprint.plans`` allows;
- the packing (`stager.sprint.packing`): experiments back to back on an
  instance, side by side on a multi-GPU plan, within the deadline and the budget;
  with ``compute.nodes: N`` an "instance" of the packing is a group of N nodes
  booted together, billed N times, running one experiment at a time on all of them;
- the naive plan beside it (one ``compute.type`` instance per experiment) and the savings;
- the one-off costs before any instance trains: the gold image when it must be
  built, the staging instance that fills a volume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from stager.cost.estimate import BUILD_HOURS, STAGING_HOURS, STAGING_PLAN
from stager.cost.prices import PriceBook
from stager.sprint.estimates import DEFAULT_BOOT_S, Estimate, boot_from_history, estimate, rates_from_history
from stager.sprint.packing import Job, Offer, Packing, naive, pack
from stager.sprint.spec import SprintSpec

__all__ = ["SprintPlan", "make_sprint_plan"]


@dataclass(frozen=True)
class OneOff:
    item: str  # "image build", "volume staging"
    plan: str
    usd: float


@dataclass(frozen=True)
class SprintPlan:
    sprint: SprintSpec
    start: datetime  # when the sprint starts (UTC): now, or its next scheduled time
    deadline: datetime | None  # when it must be done, from sprint.deadline and sprint.window
    estimates: dict[str, Estimate]  # experiment name -> its duration on one GPU
    boot_hours: float  # an instance's overhead before its first experiment
    boot_from: str
    packing: Packing
    naive: Packing
    one_offs: tuple[OneOff, ...]
    prices: PriceBook
    prices_note: str  # the price book's describe(): where, and how old
    nodes: int = 1  # instances per packed "instance": compute.nodes

    def lanes_label(self, inst) -> str:
        """How one packed instance reads: its plan and GPUs, or its group of nodes."""
        if self.nodes == 1:
            return f"{inst.plan} ({inst.gpus} GPU)"
        return f"{self.nodes} nodes x {inst.plan} ({self.prices.gpus(inst.plan)} GPU each)"

    @property
    def total_usd(self) -> float:
        return round(self.packing.total_usd + sum(o.usd for o in self.one_offs), 2)

    @property
    def naive_usd(self) -> float:
        return round(self.naive.total_usd + sum(o.usd for o in self.one_offs), 2)

    @property
    def savings_usd(self) -> float:
        return round(self.naive_usd - self.total_usd, 2)

    def at(self, hours: float) -> datetime:
        return self.start + timedelta(hours=hours)

    def describe(self) -> list[str]:
        sprint = self.sprint
        budget = sprint.pipeline.budget
        lines = [f"sprint {sprint.name} ({sprint.path}): {len(sprint.experiments)} experiments ({sprint.sweep}) on "
                 f"target {sprint.pipeline.target}, plans {', '.join(sprint.plans)} in "
                 f"{sprint.pipeline.compute.region}"]
        lines.append(f"start {_clock(self.start)}" + (f", deadline {_clock(self.deadline)}" if self.deadline else
                                                       ", no deadline") + f"; budget ${budget.max_usd:.2f}")
        lines.append(f"prices: {self.prices_note}; billed per started hour until deleted")
        lines.append(f"instance overhead: {self.boot_hours * 60:.1f} min ({self.boot_from})")
        sources = sorted({e.detail for e in self.estimates.values()})
        lines += [f"durations: {detail}" for detail in sources]
        lines.append("")
        for inst in self.packing.instances:
            lines.append(f"instance {inst.index + 1}: {self.lanes_label(inst)} busy {inst.busy_hours:.2f} h -> "
                         f"{inst.billed_hours} billed h x ${inst.hourly_usd:g} = ${inst.usd:.2f}")
            for placed in sorted(inst.placements, key=lambda p: (p.gpu, p.start_h)):
                experiment = sprint.experiment(placed.job)
                lane = f"gpu {placed.gpu}" if self.nodes == 1 else "nodes"
                lines.append(f"  {lane}  {_clock(self.at(placed.start_h))}-{_clock(self.at(placed.end_h))}"
                             f"  {placed.job}  {experiment.label}  [{self.estimates[placed.job].source}]")
        for left in self.packing.unplaced:
            lines.append(f"not planned: {left.job}: {left.reason}")
        for one in self.one_offs:
            lines.append(f"{one.item}: {one.plan} for {BUILD_HOURS} h = ${one.usd:.2f}")
        lines.append("")
        lines.append(f"this plan: {self._rented(self.packing)}, ${self.total_usd:.2f}, done by "
                     f"{_clock(self.at(self.packing.makespan_h))} (lower bound ${self.packing.lower_bound_usd:.2f})")
        each = sprint.pipeline.compute.type if self.nodes == 1 else f"{self.nodes} x {sprint.pipeline.compute.type}"
        lines.append(f"naive plan (one {each} per experiment): {self._rented(self.naive)}, ${self.naive_usd:.2f}")
        share = f" ({self.savings_usd / self.naive_usd:.0%})" if self.naive_usd else ""
        lines.append(f"savings: ${self.savings_usd:.2f}{share}")
        return lines

    def _rented(self, packing: Packing) -> str:
        if self.nodes == 1:
            return f"{len(packing.instances)} instance(s), {packing.billed_hours} billed h"
        return (f"{len(packing.instances)} group(s) of {self.nodes} nodes, {packing.billed_hours} billed group-hours "
                f"({packing.billed_hours * self.nodes} instance-hours)")

    def to_json(self) -> dict[str, Any]:
        def packing_json(packing: Packing) -> dict[str, Any]:
            return {
                "total_usd": packing.total_usd, "billed_hours": packing.billed_hours,
                "makespan_h": round(packing.makespan_h, 4), "lower_bound_usd": packing.lower_bound_usd,
                "instances": [{"index": i.index, "plan": i.plan, "gpus": i.gpus, "nodes": self.nodes,
                               "hourly_usd": i.hourly_usd,
                               "busy_hours": round(i.busy_hours, 4), "billed_hours": i.billed_hours, "usd": i.usd,
                               "experiments": [{"name": p.job, "gpu": p.gpu, "start": _iso(self.at(p.start_h)),
                                                "end": _iso(self.at(p.end_h)), "start_h": round(p.start_h, 4),
                                                "end_h": round(p.end_h, 4)} for p in i.placements]}
                              for i in packing.instances],
                "unplaced": [{"name": u.job, "reason": u.reason} for u in packing.unplaced],
            }

        return {
            "sprint": self.sprint.name, "file": str(self.sprint.path), "target": self.sprint.pipeline.target,
            "start": _iso(self.start), "deadline": _iso(self.deadline) if self.deadline else None,
            "budget_usd": self.sprint.pipeline.budget.max_usd, "nodes": self.nodes,
            "prices": {"source": self.prices.source, "fetched": _iso(self.prices.fetched) if self.prices.fetched
                       else None, "stale": self.prices.stale},
            "boot_hours": round(self.boot_hours, 4), "boot_from": self.boot_from,
            "experiments": [{"name": e.name, "overrides": dict(e.overrides), "label": e.label,
                             "priority": self.sprint.priority_of(e), "estimate": self.estimates[e.name].to_json()}
                            for e in self.sprint.experiments],
            "plan": packing_json(self.packing), "naive": packing_json(self.naive),
            "one_offs": [{"item": o.item, "plan": o.plan, "usd": o.usd} for o in self.one_offs],
            "total_usd": self.total_usd, "naive_usd": self.naive_usd, "savings_usd": self.savings_usd,
        }


def make_sprint_plan(sprint: SprintSpec, *, prices: PriceBook, ledger=None, start: datetime | None = None,
                     build_image: bool = False, probe: bool = True,
                     say: Callable[[str], None] = lambda line: None) -> SprintPlan:
    """Plan ``sprint`` starting at ``start`` (default now, or the window's next opening).

    ``ledger`` (optional) gives past runs' durations and boots; ``build_image`` says
    the gold image does not exist yet; ``probe`` allows a measured probe when the
    ledger knows nothing.

    Raises:
        UsageError: a plan the price book does not have; a probe that cannot train.
    """
    spec = sprint.pipeline
    region = spec.compute.region
    now = datetime.now(timezone.utc)
    start = start or (sprint.window.next_start(now) if sprint.window else now)
    deadline = sprint.deadline_at(start)
    rates = rates_from_history(ledger, spec.name, spec.compute.type) if ledger is not None else None
    if rates is None and probe and sprint.probe_steps:
        from stager.sprint.probe import probe_rates

        say(f"no past run of {spec.name} in the ledger: timing {sprint.probe_steps} training steps here")
        rates = probe_rates(spec.train.config, sprint.probe_steps)
    estimates = {e.name: estimate(sprint.configs[e.name], rates, spec.budget) for e in sprint.experiments}
    boot = boot_from_history(ledger, spec.name, spec.compute.type) if ledger is not None else None
    boot_s, boot_from = boot if boot is not None else (DEFAULT_BOOT_S, "default: no past boot in the ledger")
    boot_hours = boot_s / 3600
    one_offs = _one_offs(sprint, prices, build_image)
    nodes = spec.compute.nodes
    offers = [_offer(plan, prices, region, nodes) for plan in sprint.plans]
    jobs = [Job(e.name, estimates[e.name].hours, sprint.priority_of(e)) for e in sprint.experiments]
    deadline_hours = (deadline - start).total_seconds() / 3600 if deadline is not None else None
    packing = pack(jobs, offers, boot_hours=boot_hours, deadline_hours=deadline_hours,
                   max_usd=max(0.0, spec.budget.max_usd - sum(o.usd for o in one_offs)))
    single = _offer(spec.compute.type, prices, region, nodes)
    return SprintPlan(sprint, start, deadline, estimates, boot_hours, boot_from, packing,
                      naive(jobs, single, boot_hours=boot_hours), tuple(one_offs), prices, prices.describe(now), nodes)


def _offer(plan: str, prices: PriceBook, region: str, nodes: int) -> Offer:
    """What the packer may rent: one instance whose GPUs are lanes; or, for experiments on N nodes, a group
    of N instances that is one lane (each experiment takes every GPU of every node) at N times the price."""
    if nodes == 1:
        return Offer(plan, prices.gpus(plan), prices.hourly(plan, region))
    return Offer(plan, 1, round(nodes * prices.hourly(plan, region), 6))


def _one_offs(sprint: SprintSpec, prices: PriceBook, build_image: bool) -> list[OneOff]:
    spec = sprint.pipeline
    region = spec.compute.region
    out = []
    if build_image:
        builder = spec.image.recipe.builder_type
        out.append(OneOff("image build", builder, round(prices.hourly(builder, region) * BUILD_HOURS, 4)))
    if spec.storage.via == "volume" and spec.data:
        out.append(OneOff("volume staging", STAGING_PLAN, round(prices.hourly(STAGING_PLAN, region) * STAGING_HOURS,
                                                                 4)))
    return out


def _clock(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%a %H:%M UTC") if moment else "-"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
