"""Packing a sprint's experiments onto few billed instance-hours, within a deadline and a budget.

Linode bills an instance per started hour from create to delete, at least one,
so one instance per 20-minute experiment pays three times the work. The planner
runs experiments one after another on the same instance (a *lane*) and side by
side on a multi-GPU plan (one lane per GPU). Every instance first pays the boot
overhead (boot, image, data pull); its lanes start after it, and it is deleted
when its longest lane ends: busy = boot + longest lane, billed = ceil(busy).

`pack`, for every offer and every candidate number H of billed hours per
instance: fills lanes of H - boot hours best-fit-decreasing (longest experiment
first, into the lane it leaves least room in), groups the fullest lanes g to an
instance and bills each instance ceil(boot + its longest lane). The cheapest
candidate wins (ties: fewer instances, earlier end, earlier offer). The last,
least filled instance of the best candidates is then planned again on every
offer, so a sprint on 4-GPU plans may end on a 1-GPU one. Experiments that fit
the deadline only on some offers go to those, and others may ride along in the
hours those instances are billed anyway. Each lane runs its experiments by
priority, lower first, then in input order. When ``max_usd`` is short, a binary
search finds how many experiments, in keep order, fit it.

Not done: splitting or migrating an experiment, starting instances later than
the sprint (all start at hour 0), mixing offers other than at the tail and for
experiments that fit only some offers, and the monthly price cap (a sprint is
hours, not a month).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["InstancePlan", "Job", "Offer", "Packing", "Placement", "Unplaced", "lower_bound", "naive", "pack"]

_EPS = 1e-9  # hours: float noise, not time
_DENSE_HOURS = 24  # up to this many candidate hours per instance are all tried; beyond, a sparse selection
_TAILS_TRIED = 6  # best candidates whose last instance is planned again on every offer


@dataclass(frozen=True)
class Job:
    name: str  # unique within the sprint
    hours: float  # estimated run time on one GPU of speed 1.0, its per-experiment setup included (> 0)
    priority: int = 0  # lower runs earlier and is dropped last when the budget is short; ties keep input order


@dataclass(frozen=True)
class Offer:
    plan: str  # Linode plan id, e.g. "g1-gpu-rtx6000-2"
    gpus: int  # GPUs per instance, i.e. lanes side by side (>= 1)
    hourly_usd: float  # price of one instance-hour in the sprint's region
    speed: float = 1.0  # relative throughput of one of its GPUs: a job takes hours / speed on it


@dataclass(frozen=True)
class Placement:
    job: str  # the experiment's name
    instance: int  # InstancePlan.index
    gpu: int  # its lane on that instance, 0-based
    start_h: float  # hours from the sprint's start (the instance's boot comes first)
    end_h: float


@dataclass(frozen=True)
class InstancePlan:
    index: int  # 0-based, in the plan's order
    plan: str  # Linode plan id
    gpus: int
    hourly_usd: float
    busy_hours: float  # boot overhead + its longest lane: from create to delete
    billed_hours: int  # ceil(busy_hours), at least 1
    usd: float  # billed_hours x hourly_usd
    placements: tuple[Placement, ...]  # lane by lane, each lane in running order


@dataclass(frozen=True)
class Unplaced:
    job: str  # the experiment's name
    reason: str  # e.g. "over budget ($12.00 for all; budget $9.00)"


@dataclass(frozen=True)
class Packing:
    instances: tuple[InstancePlan, ...]
    unplaced: tuple[Unplaced, ...]  # in input order
    total_usd: float  # sum of the instances' usd
    billed_hours: int  # sum of the instances' billed hours
    makespan_h: float  # when the last instance is deleted, hours from the sprint's start (boot included)
    lower_bound_usd: float  # `lower_bound` of the placed jobs: no plan of them costs less


def pack(jobs: Iterable[Job], offers: Iterable[Offer], *, boot_hours: float, deadline_hours: float | None = None,
         max_usd: float | None = None) -> Packing:
    """The cheapest packing found of ``jobs`` onto ``offers``; see the module docstring for how.

    With ``deadline_hours`` every instance is deleted by then (all start at hour 0),
    and a job longer than the deadline leaves after boot on every offer is
    unplaced. With ``max_usd``, when everything costs more, jobs are dropped from
    the highest priority number (the last in input order among equals) until the
    rest fits; the total never exceeds ``max_usd``.

    Raises:
        ValueError: no offers, a non-positive hours/gpus/price/speed/deadline, a
            duplicate job name, a negative boot or budget.
    """
    jobs, offers = tuple(jobs), tuple(offers)
    _check(jobs, offers, boot_hours, deadline_hours, max_usd)
    planner = _Planner(jobs, offers, boot_hours, deadline_hours)
    every = tuple(range(len(offers)))
    left: dict[int, str] = {j: planner.too_long(j) for j in range(len(jobs)) if not planner.fits_any(j)}
    placeable = [j for j in planner.order if j not in left]
    plan = planner.solve(placeable, every)
    if max_usd is not None and plan.usd > max_usd + _EPS:
        reason = f"over budget (${plan.usd:.2f} for all; budget ${max_usd:.2f})"
        plan, kept = _within_budget(planner, placeable, max_usd)
        left.update((j, reason) for j in placeable if j not in kept)
        placeable = [j for j in placeable if j in kept]
    unplaced = tuple(Unplaced(jobs[j].name, left[j]) for j in sorted(left))
    bound = lower_bound([jobs[j] for j in placeable], offers, boot_hours=boot_hours, deadline_hours=deadline_hours)
    return _packing(planner.instances(plan), unplaced, bound)


def naive(jobs: Iterable[Job], offer: Offer, *, boot_hours: float) -> Packing:
    """One instance of ``offer`` per job, all at once: the plan people make by hand, as a baseline."""
    jobs = tuple(jobs)
    _check(jobs, (offer,), boot_hours, None, None)
    instances = []
    for i, job in enumerate(jobs):
        end = boot_hours + job.hours / offer.speed
        billed = _billed(end)
        placement = Placement(job.name, i, 0, boot_hours, end)
        instances.append(InstancePlan(i, offer.plan, offer.gpus, offer.hourly_usd, end, billed,
                                      round(billed * offer.hourly_usd, 6), (placement,)))
    return _packing(instances, (), lower_bound(jobs, (offer,), boot_hours=boot_hours))


def lower_bound(jobs: Iterable[Job], offers: Iterable[Offer], *, boot_hours: float,
                deadline_hours: float | None = None) -> float:
    """No plan of ``jobs`` on ``offers`` costs less: the work's GPU-hours rounded up per instance.

    For each offer, with W = sum(hours / speed) and g its GPUs: n = 1 instance
    without a deadline D, else the fewest whose lanes hold the work,
    ceil(W / (g x (D - boot))); LB(offer) = hourly x max(n, ceil(W / g + n x boot)),
    because a billed hour of an instance gives at most g GPU-hours of work and
    every instance pays its boot. The bound is the cheapest offer's LB.

    A mix of offers rounds differently, so with several offers the bound is also
    kept at or under the same reasoning applied to the mix. When all offers share
    the price per GPU-hour and the speed (one plan family), that is LB of a virtual
    offer with q = gcd(GPUs) GPUs at q x that price: the cheapest LB itself when
    the family's smallest plan has q GPUs (e.g. 1, 2 and 4 GPUs). Otherwise, with
    L the fewest GPUs that hold the work (q x ceil(lanes / q); 1 lane without a
    deadline), p the price per GPU-hour and s the speed: max(min p x L,
    min p x L x boot + min(p / s) x sum(hours)), without the rounding.
    Infinite when the deadline leaves no time after boot; 0 without jobs.
    """
    jobs, offers = tuple(jobs), tuple(offers)
    _check(jobs, offers, boot_hours, deadline_hours, None)
    if not jobs:
        return 0.0
    room = None if deadline_hours is None else deadline_hours - boot_hours
    if room is not None and room <= _EPS:
        return math.inf
    work = sum(job.hours for job in jobs)
    best = min(_offer_bound(work / o.speed, o.gpus, o.hourly_usd, boot_hours, room) for o in offers)
    if len(offers) > 1:
        per_gpu = [o.hourly_usd / o.gpus for o in offers]
        q = math.gcd(*(o.gpus for o in offers))
        if all(math.isclose(p, per_gpu[0]) and math.isclose(o.speed, offers[0].speed) for p, o in zip(per_gpu, offers)):
            mixed = _offer_bound(work / min(o.speed for o in offers), q, q * min(per_gpu), boot_hours, room)
        else:
            lanes = 1 if room is None else math.ceil(round(work / (max(o.speed for o in offers) * room), 9))
            gpus = q * math.ceil(lanes / q)
            per_work = min(p / o.speed for p, o in zip(per_gpu, offers))
            mixed = max(min(per_gpu) * gpus, min(per_gpu) * gpus * boot_hours + per_work * work)
        best = min(best, mixed)
    return round(best, 6)


def _offer_bound(work: float, gpus: int, hourly_usd: float, boot: float, room: float | None) -> float:
    """`lower_bound` on one offer, ``work`` in hours at its speed."""
    n = 1 if room is None else math.ceil(round(work / (gpus * room), 9))
    return hourly_usd * max(n, math.ceil(round(work / gpus + n * boot, 9)))


def _billed(busy_hours: float) -> int:
    """Whole started hours, at least one; float noise is not an hour."""
    return max(1, math.ceil(round(busy_hours, 9)))


def _check(jobs: tuple[Job, ...], offers: tuple[Offer, ...], boot: float, deadline: float | None,
           max_usd: float | None) -> None:
    if not offers:
        raise ValueError("no offers: at least one plan must be allowed")
    for offer in offers:
        if not isinstance(offer.gpus, int) or offer.gpus < 1:
            raise ValueError(f"offer {offer.plan}: gpus must be an integer >= 1, got {offer.gpus!r}")
        if not (0 < offer.hourly_usd < math.inf):
            raise ValueError(f"offer {offer.plan}: hourly_usd must be > 0, got {offer.hourly_usd!r}")
        if not (0 < offer.speed < math.inf):
            raise ValueError(f"offer {offer.plan}: speed must be > 0, got {offer.speed!r}")
    names: set[str] = set()
    for job in jobs:
        if not (0 < job.hours < math.inf):
            raise ValueError(f"job {job.name}: hours must be > 0, got {job.hours!r}")
        if job.name in names:
            raise ValueError(f"job {job.name}: the name is used twice")
        names.add(job.name)
    if not (0 <= boot < math.inf):
        raise ValueError(f"boot_hours must be >= 0, got {boot!r}")
    if deadline is not None and not (0 < deadline < math.inf):
        raise ValueError(f"deadline_hours must be > 0, got {deadline!r}")
    if max_usd is not None and not (0 <= max_usd < math.inf):
        raise ValueError(f"max_usd must be >= 0, got {max_usd!r}")


@dataclass(frozen=True)
class _Box:
    """An instance being planned."""

    offer: int  # index into the offers
    lanes: tuple[tuple[int, ...], ...]  # job indices per GPU, fullest lane first
    busy: float  # boot + longest lane
    usd: float


@dataclass(frozen=True)
class _Plan:
    boxes: tuple[_Box, ...]
    usd: float
    key: tuple[float, int, float, int]  # smaller is better: cost, instances, end, first offer


def _plan(boxes: tuple[_Box, ...]) -> _Plan:
    usd = sum(box.usd for box in boxes)
    end = max((box.busy for box in boxes), default=0.0)
    return _Plan(boxes, usd, (round(usd, 6), len(boxes), round(end, 9), boxes[0].offer if boxes else -1))


_NOTHING = _plan(())


class _Planner:
    """The search: jobs are indices into the sprint's jobs, kept longest first."""

    def __init__(self, jobs: tuple[Job, ...], offers: tuple[Offer, ...], boot: float, deadline: float | None):
        self.jobs, self.offers, self.boot, self.deadline = jobs, offers, boot, deadline
        self.room = None if deadline is None else deadline - boot  # lane time an instance has before the deadline
        self.order = sorted(range(len(jobs)), key=lambda j: (-jobs[j].hours, j))
        self.rank = {j: r for r, j in enumerate(self.order)}
        self.dur = [[job.hours / offer.speed for job in jobs] for offer in offers]  # per offer, per job

    def fits(self, j: int, o: int) -> bool:
        return self.room is None or self.dur[o][j] <= self.room + _EPS

    def fits_any(self, j: int) -> bool:
        return any(self.fits(j, o) for o in range(len(self.offers)))

    def too_long(self, j: int) -> str:
        if self.room is None or self.room <= _EPS:
            return f"the deadline ({self.deadline:g} h) leaves no time after the {self.boot:g} h boot"
        fastest = min(self.dur[o][j] for o in range(len(self.offers)))
        return f"longer than the deadline allows on any plan ({fastest:.2f} h > {self.room:.2f} h)"

    def solve(self, idx: list[int], allowed: tuple[int, ...], tails: bool = True) -> _Plan:
        """The cheapest plan found for ``idx`` (longest first), each of which fits some offer in ``allowed``."""
        if not idx:
            return _NOTHING
        best: _Plan | None = None
        for o in allowed:
            fit = [j for j in idx if self.fits(j, o)]
            if not fit:
                continue
            rest = [j for j in idx if not self.fits(j, o)]
            others = tuple(a for a in allowed if a != o)
            if rest and not all(any(self.fits(j, a) for a in others) for j in rest):
                continue
            variants: list[tuple[tuple[_Box, ...], list[int]]] = [((), fit)]  # (boxes of other offers, jobs for o)
            if rest:  # the jobs only other offers can run, alone or with some of ``fit`` in the hours they pay anyway
                sub = self.solve(rest, others, tails).boxes
                variants = [(sub, fit), self.ride(sub, fit)]
            tried = []
            for sub, mine in variants:
                if not mine:
                    tried.append(((), sub))
                for h in self.heights(mine, o, tails) if mine else ():
                    tried.append((self.fill(mine, o, h), sub))
            tried.sort(key=lambda c: _plan(c[0] + c[1]).key)
            for i, (main, sub) in enumerate(tried):
                plan = _plan(main + sub)
                if tails and i < _TAILS_TRIED and len(main) > 1:
                    plan = min(plan, self.retail(main, sub, allowed), key=lambda p: p.key)
                if best is None or plan.key < best.key:
                    best = plan
        assert best is not None, "every job fits some allowed offer"
        return best

    def retail(self, main: tuple[_Box, ...], sub: tuple[_Box, ...], allowed: tuple[int, ...]) -> _Plan:
        """``main`` with its last, least filled instance planned again on every offer."""
        tail = sorted((j for lane in main[-1].lanes for j in lane), key=self.rank.__getitem__)
        return _plan(main[:-1] + self.solve(tail, allowed, tails=False).boxes + sub)

    def ride(self, boxes: tuple[_Box, ...], idx: list[int]) -> tuple[tuple[_Box, ...], list[int]]:
        """Jobs of ``idx`` (longest first) put where ``boxes`` have room in hours they are billed anyway.

        Returns the boxes with them, and the jobs left over.
        """
        out, left = [], idx
        for box in boxes:
            gpus, dur = self.offers[box.offer].gpus, self.dur[box.offer]
            billed = _billed(box.busy)
            limit = (billed if self.deadline is None else min(billed, self.deadline)) - self.boot
            lanes = [list(lane) for lane in box.lanes] + [[] for _ in range(gpus - len(box.lanes))]
            loads = [sum(dur[j] for j in lane) for lane in lanes]
            rest = []
            for j in left:
                room = [(limit - load - dur[j], k) for k, load in enumerate(loads) if load + dur[j] <= limit + _EPS]
                if room:
                    k = min(room)[1]
                    lanes[k].append(j)
                    loads[k] += dur[j]
                else:
                    rest.append(j)
            left = rest
            order = sorted((k for k in range(gpus) if lanes[k]), key=lambda k: -loads[k])
            out.append(_Box(box.offer, tuple(tuple(lanes[k]) for k in order), self.boot + loads[order[0]], box.usd))
        return tuple(out), left

    def heights(self, fit: list[int], o: int, thorough: bool = True) -> list[int]:
        """Candidate billed hours per instance of offer ``o`` for jobs ``fit``; fewer when not ``thorough``."""
        gpus, dur = self.offers[o].gpus, self.dur[o]
        work = sum(dur[j] for j in fit)
        low = _billed(self.boot + dur[fit[0]])  # the longest job must fit a lane
        dense, growth = (_DENSE_HOURS, 1.25) if thorough else (_DENSE_HOURS // 4, 2.0)

        def per_instance(n: int) -> int:  # hours when n instances share the work evenly
            return _billed(self.boot + work / (gpus * n))

        if self.deadline is None:  # one instance pays one boot: the cheapest but for its lanes' imbalance
            top = max(low, per_instance(1)) + 2
            hours = {top - 2, top - 1, top}
        else:
            top = max(low, min(math.ceil(round(self.deadline, 9)), per_instance(1) + 2))
            if top - low < dense:
                hours = set(range(low, top + 1))
            else:  # short lanes waste little to rounding, long ones little to boot: both ends, and between
                fewest = max(1, math.ceil(work / (gpus * self.room)))
                hours = set(range(low, low + dense // 2)) | {top - 1, top}
                hours |= {per_instance(n) + k for n in range(fewest, fewest + 3) for k in (0, 1)}
                h = low
                while h < top:
                    hours.add(h)
                    h = math.ceil(h * growth)
        return sorted(h for h in hours if low <= h <= top)

    def fill(self, fit: list[int], o: int, hours: int) -> tuple[_Box, ...]:
        """Lanes of ``hours`` - boot filled best-fit-decreasing, grouped fullest first into instances of ``o``."""
        offer, dur = self.offers[o], self.dur[o]
        capacity = (hours if self.deadline is None else min(hours, self.deadline)) - self.boot
        smallest = dur[fit[-1]]
        lanes: list[list[int]] = []
        loads: list[float] = []
        free: list[tuple[float, int]] = []  # (room left, lane), sorted: the first with enough room fits best
        for j in fit:
            d = dur[j]
            k = bisect_left(free, (d - _EPS,))
            if k < len(free):
                room, lane = free.pop(k)
                lanes[lane].append(j)
                loads[lane] += d
                room -= d
            else:
                lane, room = len(lanes), capacity - d
                lanes.append([j])
                loads.append(d)
            if room >= smallest - _EPS:  # fit is longest first: a lane with less room is closed for good
                insort(free, (room, lane))
        fullest = sorted(range(len(lanes)), key=lambda lane: -loads[lane])
        boxes = []
        for first in range(0, len(fullest), offer.gpus):
            group = fullest[first:first + offer.gpus]
            busy = self.boot + loads[group[0]]
            boxes.append(_Box(o, tuple(tuple(lanes[lane]) for lane in group), busy, offer.hourly_usd * _billed(busy)))
        return tuple(boxes)

    def instances(self, plan: _Plan) -> list[InstancePlan]:
        """The plan with each lane in running order (priority, then input order) and its times."""
        out = []
        for i, box in enumerate(plan.boxes):
            offer, dur = self.offers[box.offer], self.dur[box.offer]
            placements = []
            for gpu, lane in enumerate(box.lanes):
                t = self.boot
                for j in sorted(lane, key=lambda j: (self.jobs[j].priority, j)):
                    placements.append(Placement(self.jobs[j].name, i, gpu, round(t, 9), round(t + dur[j], 9)))
                    t += dur[j]
            out.append(InstancePlan(i, offer.plan, offer.gpus, offer.hourly_usd, round(box.busy, 9), _billed(box.busy),
                                    round(box.usd, 6), tuple(placements)))
        return out


def _within_budget(planner: _Planner, placeable: list[int], max_usd: float) -> tuple[_Plan, set[int]]:
    """The plan of the longest run of jobs in keep order (priority, then input order) that costs <= ``max_usd``."""
    keep = sorted(placeable, key=lambda j: (planner.jobs[j].priority, j))
    every = tuple(range(len(planner.offers)))

    def plan_of(count: int) -> _Plan:
        return planner.solve(sorted(keep[:count], key=planner.rank.__getitem__), every)

    fits, over = 0, len(keep)  # invariant: the first `fits` jobs cost <= max_usd, the first `over` do not
    best = _NOTHING
    while over - fits > 1:
        middle = (fits + over) // 2
        plan = plan_of(middle)
        if plan.usd <= max_usd + _EPS:
            fits, best = middle, plan
        else:
            over = middle
    return best, set(keep[:fits])


def _packing(instances: list[InstancePlan], unplaced: tuple[Unplaced, ...], bound: float) -> Packing:
    return Packing(tuple(instances), unplaced, round(sum(i.usd for i in instances), 6),
                   sum(i.billed_hours for i in instances), max((i.busy_hours for i in instances), default=0.0), bound)
