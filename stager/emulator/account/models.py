"""Events and billing: what happened to each entity, and what it cost.

Events are what linode_api4's pollers watch: every action writes one, with the
statuses ``scheduled``/``started`` -> ``finished``/``failed``, or ``notification``.
Billing follows Linode's rule: an instance is billed per started hour from
creation until deletion (powered off included), capped at its plan's monthly price.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from stager.emulator import catalog
from stager.emulator.core.clock import Clock, format_stamp, parse_stamp


@dataclass
class Event:
    id: int
    action: str  # linode_create, linode_boot, disk_imagize, volume_attach, ...
    entity: dict  # {id, label, type, url}
    status: str  # scheduled | started | finished | failed | notification
    created: str
    message: str | None = None
    secondary_entity: dict | None = None
    percent_complete: int = 0
    duration: float = 0.0
    read: bool = False
    seen: bool = False

    def to_api(self) -> dict:
        body = asdict(self)
        # The spec types these as non-null and requires neither: absent, not null, when unknown.
        if body["secondary_entity"] is None:
            del body["secondary_entity"]
        body.update(time_remaining=None, username="stager")
        return body


class EventLog:
    def __init__(self, clock: Clock, next_id) -> None:
        self._clock = clock
        self._next_id = next_id
        self.events: dict[int, Event] = {}

    def record(self, action: str, entity: dict, status: str = "finished", message: str | None = None,
               secondary: dict | None = None) -> Event:
        event = Event(self._next_id("event"), action, dict(entity), status, self._clock.stamp(),
                      message=message, secondary_entity=secondary,
                      percent_complete=100 if status in ("finished", "notification") else 0)
        self.events[event.id] = event
        return event

    def finish(self, event: Event, *, failed: bool = False, message: str | None = None) -> None:
        event.status = "failed" if failed else "finished"
        event.percent_complete = 100
        event.duration = max(0.0, (self._clock.now() - parse_stamp(event.created)).total_seconds())
        if message is not None:
            event.message = message

    def to_state(self) -> list[dict]:
        return [asdict(e) for e in self.events.values()]

    def load(self, rows: list[dict]) -> None:
        self.events = {row["id"]: Event(**row) for row in rows}


@dataclass
class Charge:
    """One instance's life, for billing."""

    instance_id: int
    label: str
    plan: str
    region: str
    started: str  # clock stamp at creation
    ended: str | None = None  # clock stamp at deletion; None while it exists

    def hours(self, now: str) -> int:
        seconds = (parse_stamp(self.ended or now) - parse_stamp(self.started)).total_seconds()
        return max(1, math.ceil(seconds / 3600 - 1e-9))

    def cost(self, now: str) -> float:
        plan = catalog.plan(self.plan)
        if plan is None:
            return 0.0
        return round(min(self.hours(now) * plan.hourly, plan.monthly), 4)


@dataclass
class Billing:
    clock: Clock
    charges: dict[int, Charge] = field(default_factory=dict)

    def open(self, instance_id: int, label: str, plan: str, region: str) -> None:
        self.charges[instance_id] = Charge(instance_id, label, plan, region, self.clock.stamp())

    def close(self, instance_id: int) -> None:
        charge = self.charges.get(instance_id)
        if charge is not None and charge.ended is None:
            charge.ended = self.clock.stamp()

    def report(self) -> dict:
        now = format_stamp(self.clock.now())
        rows = [{**asdict(c), "hours": c.hours(now), "usd": c.cost(now)} for c in self.charges.values()]
        return {"instances": rows, "total_usd": round(sum(r["usd"] for r in rows), 4)}

    def to_state(self) -> list[dict]:
        return [asdict(c) for c in self.charges.values()]

    def load(self, rows: list[dict]) -> None:
        self.charges = {row["instance_id"]: Charge(**row) for row in rows}
