"""Where the money went: dollars billed and instance-hours, against what was estimated, grouped one way.

Dollars are counted once. Billed dollars are those of resources, and every resource
belongs to one ledger row: a single run, or a sprint record (the sprint holds the
instances; its experiments' ``actual_usd`` is only a share of the sprint's bill, so
summing every run's actual would count a sprint twice). Estimates come from rows
that are not sprint experiments. So the unit counted is a *bill*: a single run, or a
sprint with its experiments, or an image build.

A live resource is counted to ``now``: its started hours so far, priced by Linode's rule.
Image builds have an estimate (their builder's started hours at its price) and no
ledger bill; they are counted once adopted into the ledger (``Ledger.adopt_builds``).
Days and months are UTC. Not supported: splitting one resource's life across days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from stager.display import usd
from stager.errors import UsageError
from stager.ledger.billing import billed_hours, billed_usd
from stager.ledger.records import ResourceRecord, RunSummary

__all__ = ["GROUPINGS", "CostReport", "CostRow", "cost_report"]

GROUPINGS = ("day", "month", "pipeline", "sprint", "plan")
IMAGE_BUILDS = "image builds"  # the group of image builds, by pipeline or sprint
NO_SPRINT = "(no sprint)"
NO_PLAN = "(no plan)"
_LAST = (IMAGE_BUILDS, NO_SPRINT, NO_PLAN)  # groups listed after the named ones


@dataclass(frozen=True)
class _Charge:
    """One priced or instance resource, counted to ``now`` when still live."""

    plan: str | None
    instance: bool  # only instances make instance-hours
    hours: int  # started hours: at deletion, or so far
    usd: float | None  # by Linode's rule; None for a free resource
    live: bool


@dataclass(frozen=True)
class _Bill:
    """What is counted once: a single run, a sprint with its experiments, or an image build."""

    key_time: datetime  # the run's or sprint's creation, the build's start
    pipeline: str  # a sprint's own name, not its experiments'
    sprint: str | None  # the sprint id, for a sprint
    runs: int  # training runs: 1 for a single run, a sprint's experiments
    sprints: int  # 1 for a sprint record
    builds: int  # 1 for an image build
    charges: tuple[_Charge, ...]
    billed_usd: float | None  # None for a build: the ledger holds no bill for it
    estimated_usd: float | None
    build_plan: str | None = None  # a build's builder plan, for --by plan
    build_hours: int = 0  # a build's builder hours


@dataclass(frozen=True)
class CostRow:
    group: str  # a day (YYYY-MM-DD), month (YYYY-MM), pipeline, sprint id or plan
    runs: int  # training runs: single runs and sprint experiments
    sprints: int
    builds: int  # image builds
    instance_hours: int  # started hours of instances; live ones to now
    live_instances: int  # instances still running, counted so far
    billed_usd: float | None  # by Linode's rule; None when the group holds only image builds
    estimated_usd: float | None  # None when nothing had an estimate, and always for --by plan
    difference_usd: float | None  # billed minus estimated, over the bills that have both

    def to_json(self) -> dict:
        return {"group": self.group, "runs": self.runs, "sprints": self.sprints, "builds": self.builds,
                "instance_hours": self.instance_hours, "live_instances": self.live_instances,
                "billed_usd": self.billed_usd, "estimated_usd": self.estimated_usd,
                "difference_usd": self.difference_usd}


@dataclass(frozen=True)
class CostReport:
    by: str  # one of GROUPINGS
    since: datetime | None
    now: datetime  # live resources are counted to here
    rows: tuple[CostRow, ...]
    total: CostRow  # group "total"; its estimate is the whole estimate even --by plan

    def to_json(self) -> dict:
        return {"by": self.by, "since": self.since.isoformat() if self.since else None, "now": self.now.isoformat(),
                "rows": [row.to_json() for row in self.rows], "total": self.total.to_json(), "notes": self.notes()}

    def notes(self) -> list[str]:
        notes = []
        if self.total.live_instances:
            notes.append(f"{self.total.live_instances} instance(s) still live: their hours and dollars are counted "
                         "so far")
        if self.by == "plan":
            notes.append("estimates are made per run, not per plan: only the total has one")
        if self.total.builds:
            notes.append("image builds have an estimate but no bill in the ledger; the difference leaves them out")
        return notes

    def lines(self) -> list[str]:
        """The report as aligned text lines: a header, one line per group, the total, then notes."""
        columns = ["group", "runs"] + (["sprints"] if self.total.sprints else []) + (
            ["builds"] if self.total.builds else []) + ["instance-h", "billed", "estimated", "difference"]

        def cells(row: CostRow) -> list[str]:
            hours = f"{row.instance_hours}" + (f" ({row.live_instances} live)" if row.live_instances else "")
            counts = [str(row.runs)] + ([str(row.sprints)] if self.total.sprints else []) + (
                [str(row.builds)] if self.total.builds else [])
            return [row.group, *counts, hours, usd(row.billed_usd), usd(row.estimated_usd),
                    usd(row.difference_usd, signed=True)]

        since = f" since {self.since.isoformat(timespec='minutes')}" if self.since else ""
        table = [columns, *(cells(row) for row in self.rows), cells(self.total)]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]

        def render(line: list[str]) -> str:
            # the group left-aligned, numbers right-aligned so the dollars line up
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))).rstrip()

        zone = "UTC days; " if self.by in ("day", "month") else ""
        out = [f"cost by {self.by}{since} ({zone}billed by Linode's rule)", render(columns)]
        out += [render(line) for line in table[1:]] if self.rows else ["(nothing billed or estimated)",
                                                                       render(table[-1])]
        return out + [f"note: {note}" for note in self.notes()]


def _check_by(by: str) -> str:
    if by not in GROUPINGS:
        raise UsageError(f"cannot group costs by {by!r}: use one of {', '.join(GROUPINGS)}")
    return by


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _charge(resource: ResourceRecord, now: datetime) -> _Charge:
    if resource.live:
        hours = billed_hours(resource.created, now)
        return _Charge(resource.plan, resource.kind == "instance", hours,
                       billed_usd(hours, resource.hourly_usd, resource.monthly_usd), True)
    return _Charge(resource.plan, resource.kind == "instance", resource.billed_hours or 0, resource.usd, False)


def _run_bills(ledger, now: datetime) -> list[_Bill]:
    """One bill per run row that is not a sprint experiment, experiments (and their resources) joined to theirs."""
    summaries: list[RunSummary] = list(reversed(ledger.runs()))  # oldest first
    resources = ledger.resources_by_run()
    heads = {s.id: s for s in summaries if s.sprint_id is None}
    members: dict[str, list[RunSummary]] = {}
    for summary in summaries:
        if summary.sprint_id is not None:
            members.setdefault(summary.sprint_id, []).append(summary)
    bills = []
    for head_id in [*heads, *(sprint for sprint in members if sprint not in heads)]:
        head = heads.get(head_id)
        experiments = members.get(head_id, [])
        rows = ([head] if head else []) + experiments
        charges = tuple(_charge(r, now) for row in rows for r in resources.get(row.id, ())
                        if r.kind == "instance" or r.hourly_usd is not None)
        # a sprint record that was lost still has its experiments: they form the bill, without an estimate
        first = head or experiments[0]
        is_sprint = head_id in members or head_id.startswith("s")
        bills.append(_Bill(
            key_time=_utc(first.created), pipeline=first.pipeline, sprint=head_id if is_sprint else None,
            runs=len(experiments) if is_sprint else 1, sprints=1 if is_sprint else 0, builds=0, charges=charges,
            billed_usd=round(sum(c.usd for c in charges if c.usd is not None), 4),
            estimated_usd=head.estimated_usd if head else None))
    return bills


def _build_bills(records: Iterable[dict]) -> list[_Bill]:
    bills = []
    for record in records:
        started = _utc(datetime.fromisoformat(record["started"]))
        bills.append(_Bill(key_time=started, pipeline=IMAGE_BUILDS, sprint=None, runs=0, sprints=0, builds=1,
                           charges=(), billed_usd=None, estimated_usd=record.get("estimated_usd"),
                           build_plan=record.get("builder_plan"), build_hours=record.get("billed_hours") or 0))
    return bills


def _keys(bill: _Bill, by: str) -> dict[str, tuple[_Charge, ...]]:
    """The groups the bill falls in, each with the charges counted there (only --by plan splits a bill)."""
    if by == "day":
        return {bill.key_time.strftime("%Y-%m-%d"): bill.charges}
    if by == "month":
        return {bill.key_time.strftime("%Y-%m"): bill.charges}
    if by == "pipeline":
        return {bill.pipeline: bill.charges}
    if by == "sprint":
        return {IMAGE_BUILDS if bill.builds else (bill.sprint or NO_SPRINT): bill.charges}
    if bill.builds:
        return {bill.build_plan or NO_PLAN: ()}
    plans: dict[str, list[_Charge]] = {}
    for charge in bill.charges:
        plans.setdefault(charge.plan or NO_PLAN, []).append(charge)
    return {plan: tuple(charges) for plan, charges in plans.items()} or {NO_PLAN: ()}


def _sum(amounts: Iterable[float | None]) -> float | None:
    known = [a for a in amounts if a is not None]
    return round(sum(known), 4) if known else None


def _row(group: str, parts: list[tuple[_Bill, tuple[_Charge, ...]]], *, per_plan: bool) -> CostRow:
    bills = [bill for bill, _ in parts]
    charges = [c for _, cs in parts for c in cs]
    hours = sum(c.hours for c in charges if c.instance) + sum(b.build_hours for b in bills)
    # --by plan splits a bill's dollars by plan but not its estimate, so no per-plan difference
    billed = _sum(c.usd for c in charges) if per_plan else _sum(b.billed_usd for b in bills)
    if per_plan and billed is None and any(b.billed_usd is not None for b in bills):
        billed = 0.0
    both = [b for b in bills if b.billed_usd is not None and b.estimated_usd is not None]
    return CostRow(
        group=group, runs=sum(b.runs for b in bills), sprints=sum(b.sprints for b in bills),
        builds=sum(b.builds for b in bills), instance_hours=hours,
        live_instances=sum(1 for c in charges if c.instance and c.live), billed_usd=billed,
        estimated_usd=None if per_plan else _sum(b.estimated_usd for b in bills),
        difference_usd=None if per_plan or not both else
        round(sum(b.billed_usd - b.estimated_usd for b in both), 4))  # type: ignore[operator]


def _order(group: str) -> tuple[bool, str]:
    return group in _LAST, group


def cost_report(ledger, *, by: str, since: datetime | None, now: datetime) -> CostReport:
    """Billed dollars and instance-hours against estimates, per group ``by`` (one of ``GROUPINGS``).

    ``ledger`` is an open ``Ledger``, or None where there is none yet (an empty report).
    ``since`` keeps the bills that started at or after it (a sprint by its own start).

    Raises:
        UsageError: ``by`` is not one of ``GROUPINGS``.
    """
    _check_by(by)
    now = _utc(now)
    bills = (_run_bills(ledger, now) + _build_bills(ledger.builds())) if ledger is not None else []
    if since is not None:
        bills = [b for b in bills if b.key_time >= _utc(since)]
    groups: dict[str, list[tuple[_Bill, tuple[_Charge, ...]]]] = {}
    for bill in bills:
        for key, charges in _keys(bill, by).items():
            groups.setdefault(key, []).append((bill, charges))
    per_plan = by == "plan"
    rows = tuple(_row(key, groups[key], per_plan=per_plan) for key in sorted(groups, key=_order))
    total = _row("total", [(bill, bill.charges) for bill in bills], per_plan=False)
    return CostReport(by=by, since=since, now=now, rows=rows, total=total)
