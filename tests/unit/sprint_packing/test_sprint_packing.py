"""Sprint packing: lanes side by side and back to back, deadlines, priorities, budgets, bounds, the naive plan."""

from __future__ import annotations

import random

import pytest

from stager.sprint.packing import Job, Offer, Packing, lower_bound, naive, pack

RTX1 = Offer("g1-gpu-rtx6000-1", 1, 1.5)
RTX2 = Offer("g1-gpu-rtx6000-2", 2, 3.0)
RTX4 = Offer("g1-gpu-rtx6000-4", 4, 6.0)
FAMILY = (RTX1, RTX2, RTX4)
BOOT = 0.1


def twenty_minutes(count: int) -> list[Job]:
    return [Job(f"e{i}", 1 / 3) for i in range(count)]


def uniform_jobs(count: int, seed: int) -> list[Job]:
    rng = random.Random(seed)
    return [Job(f"e{i}", rng.uniform(5, 90) / 60, rng.randint(0, 3)) for i in range(count)]


def check_consistent(packing: Packing, jobs: list[Job], deadline: float | None = None) -> None:
    """Every job placed once or unplaced; lanes never overlap; hours, dollars and the deadline add up."""
    placed = [p.job for inst in packing.instances for p in inst.placements]
    assert sorted(placed + [u.job for u in packing.unplaced]) == sorted(j.name for j in jobs)
    assert len(set(placed)) == len(placed)
    for inst in packing.instances:
        assert inst.busy_hours == pytest.approx(BOOT + max(
            sum(p.end_h - p.start_h for p in inst.placements if p.gpu == gpu) for gpu in range(inst.gpus)))
        assert inst.billed_hours >= max(1, inst.busy_hours - 1e-9) and inst.billed_hours < inst.busy_hours + 1
        assert inst.usd == pytest.approx(inst.billed_hours * inst.hourly_usd)
        for gpu in range(inst.gpus):
            lane = sorted((p for p in inst.placements if p.gpu == gpu), key=lambda p: p.start_h)
            if lane:
                assert lane[0].start_h == pytest.approx(BOOT)
            for before, after in zip(lane, lane[1:]):
                assert after.start_h == pytest.approx(before.end_h)
        if deadline is not None:
            assert inst.busy_hours <= deadline + 1e-9
            assert all(p.end_h <= deadline + 1e-9 for p in inst.placements)
    assert packing.total_usd == pytest.approx(sum(i.usd for i in packing.instances))
    assert packing.billed_hours == sum(i.billed_hours for i in packing.instances)
    assert packing.makespan_h == pytest.approx(max((p.end_h for i in packing.instances for p in i.placements),
                                                   default=0.0))


def test_twenty_minute_jobs_share_one_instance_without_a_deadline():
    jobs = twenty_minutes(8)
    packing = pack(jobs, [RTX1], boot_hours=BOOT)
    check_consistent(packing, jobs)
    assert len(packing.instances) == 1
    assert packing.billed_hours == 3  # 0.1 h boot + 8 x 20 min = 2.77 h
    assert packing.total_usd == pytest.approx(4.50)
    assert packing.lower_bound_usd == pytest.approx(4.50)
    assert packing.unplaced == ()


def test_a_one_hour_deadline_fits_two_jobs_per_instance():
    jobs = twenty_minutes(8)
    packing = pack(jobs, [RTX1], boot_hours=BOOT, deadline_hours=1)
    check_consistent(packing, jobs, deadline=1)
    # 0.9 h after boot holds two 20-minute jobs (three would end at 1.1 h): 4 instances x 1 h
    assert [len(i.placements) for i in packing.instances] == [2, 2, 2, 2]
    assert packing.billed_hours == 4
    assert packing.total_usd == pytest.approx(6.00)
    assert packing.makespan_h == pytest.approx(0.1 + 2 / 3)
    # W = 2.67 h; n = ceil(2.67 / 0.9) = 3; max(3, ceil(2.67 + 3 x 0.1)) = 3 h x $1.5
    assert packing.lower_bound_usd == pytest.approx(4.50)


def test_naive_plan_is_one_instance_hour_per_job():
    packing = naive(twenty_minutes(8), RTX1, boot_hours=BOOT)
    assert len(packing.instances) == 8
    assert packing.billed_hours == 8
    assert packing.total_usd == pytest.approx(12.00)
    assert all(len(i.placements) == 1 and i.placements[0].start_h == BOOT for i in packing.instances)


def test_multi_gpu_lanes_run_side_by_side():
    jobs = [Job(f"e{i}", 1.0) for i in range(4)]
    packing = pack(jobs, [RTX2], boot_hours=BOOT, deadline_hours=2.5)
    check_consistent(packing, jobs, deadline=2.5)
    assert len(packing.instances) == 1
    (inst,) = packing.instances
    assert inst.billed_hours == 3 and packing.total_usd == pytest.approx(9.0)  # 0.1 + 2 x 1 h per lane
    gpu0 = [p for p in inst.placements if p.gpu == 0]
    gpu1 = [p for p in inst.placements if p.gpu == 1]
    assert len(gpu0) == len(gpu1) == 2
    assert any(a.start_h < b.end_h and b.start_h < a.end_h for a in gpu0 for b in gpu1)


def test_the_last_partly_filled_instance_moves_to_a_smaller_plan():
    jobs = [Job(f"e{i}", 3.8) for i in range(5)]
    packing = pack(jobs, [RTX4, RTX1], boot_hours=BOOT, deadline_hours=4)
    check_consistent(packing, jobs, deadline=4)
    assert sorted(i.plan for i in packing.instances) == ["g1-gpu-rtx6000-1", "g1-gpu-rtx6000-4"]
    assert packing.total_usd == pytest.approx(4 * 6.0 + 4 * 1.5)  # not 2 x $24 on two 4-GPU instances


def test_equal_cost_prefers_the_earlier_end():
    jobs = [Job("a", 0.5), Job("b", 0.5)]
    packing = pack(jobs, [RTX1, RTX2], boot_hours=BOOT)
    # $3 either way: 2 h on one GPU, or 1 h on two side by side, which ends first
    assert packing.total_usd == pytest.approx(3.0)
    assert [i.plan for i in packing.instances] == ["g1-gpu-rtx6000-2"]
    assert packing.makespan_h == pytest.approx(0.6)


@pytest.mark.parametrize("deadline", [3.0, 4.5, 8.0])
def test_every_instance_ends_by_the_deadline(deadline):
    jobs = uniform_jobs(300, seed=deadline)
    packing = pack(jobs, FAMILY, boot_hours=BOOT, deadline_hours=deadline)
    check_consistent(packing, jobs, deadline=deadline)
    assert packing.unplaced == ()
    assert packing.makespan_h <= deadline


def test_lanes_run_by_priority_then_input_order():
    jobs = [Job("late", 0.3, priority=5), Job("first", 0.2, priority=0), Job("mid-a", 0.4, priority=2),
            Job("mid-b", 0.1, priority=2), Job("second", 0.5, priority=1)]
    packing = pack(jobs, [RTX1], boot_hours=BOOT)
    (inst,) = packing.instances
    in_time = [p.job for p in sorted(inst.placements, key=lambda p: p.start_h)]
    assert in_time == ["first", "second", "mid-a", "mid-b", "late"]


def test_budget_drops_the_highest_priority_numbers_first():
    # each 1 h job alone on an instance (two would end past 1.2 h): 2 billed h = $3 each, $30 for all
    jobs = [Job(f"e{i}", 1.0, priority=p) for i, p in enumerate([3, 0, 2, 0, 1, 3, 2, 1, 0, 3])]
    packing = pack(jobs, [RTX1], boot_hours=BOOT, deadline_hours=1.2, max_usd=10.0)
    check_consistent(packing, jobs, deadline=1.2)
    assert packing.total_usd <= 10.0
    assert packing.total_usd == pytest.approx(9.0)
    placed = sorted(p.job for i in packing.instances for p in i.placements)
    assert placed == ["e1", "e3", "e8"]  # the three priority-0 jobs
    assert [u.job for u in packing.unplaced] == ["e0", "e2", "e4", "e5", "e6", "e7", "e9"]
    assert all(u.reason == "over budget ($30.00 for all; budget $10.00)" for u in packing.unplaced)


def test_budget_keeps_input_order_among_equal_priorities():
    jobs = [Job(f"e{i}", 1.0) for i in range(5)]
    packing = pack(jobs, [RTX1], boot_hours=BOOT, deadline_hours=1.2, max_usd=7.0)
    assert sorted(p.job for i in packing.instances for p in i.placements) == ["e0", "e1"]
    assert packing.total_usd == pytest.approx(6.0)


def test_a_zero_budget_places_nothing():
    jobs = twenty_minutes(3)
    packing = pack(jobs, [RTX1], boot_hours=BOOT, max_usd=0)
    assert packing.instances == () and packing.total_usd == 0 and len(packing.unplaced) == 3


def test_a_job_longer_than_the_deadline_is_reported():
    jobs = [Job("huge", 5.0), *twenty_minutes(3)]
    packing = pack(jobs, FAMILY, boot_hours=BOOT, deadline_hours=4)
    check_consistent(packing, jobs, deadline=4)
    assert [(u.job, u.reason) for u in packing.unplaced] == [
        ("huge", "longer than the deadline allows on any plan (5.00 h > 3.90 h)")]
    assert packing.lower_bound_usd == pytest.approx(1.5 * 2)  # the placed 1 h of work, boot: 2 h on RTX1


def test_a_job_too_long_for_a_slow_plan_goes_to_a_fast_one():
    fast = Offer("fast-1", 1, 4.0, speed=2.0)
    jobs = [Job("huge", 5.0), *twenty_minutes(9)]
    packing = pack(jobs, [RTX1, fast], boot_hours=BOOT, deadline_hours=4)
    check_consistent(packing, jobs, deadline=4)
    assert packing.unplaced == ()
    where = {p.job: i.plan for i in packing.instances for p in i.placements}
    assert where["huge"] == "fast-1"
    # 2.5 h on fast-1 bills 3 h, room for two 20-minute jobs (10 min each there); the other seven take
    # 0.1 + 7/3 = 2.43 h on the cheaper RTX1: $12 + $4.5, against $12 + $6 with all nine on RTX1
    assert sorted(where.values()).count("fast-1") == 3
    assert packing.total_usd == pytest.approx(16.5)


def test_the_deadline_leaving_nothing_after_boot_places_nothing():
    packing = pack(twenty_minutes(2), [RTX1], boot_hours=0.5, deadline_hours=0.5)
    assert packing.instances == ()
    assert [u.reason for u in packing.unplaced] == ["the deadline (0.5 h) leaves no time after the 0.5 h boot"] * 2


def test_no_jobs_make_an_empty_packing():
    packing = pack([], FAMILY, boot_hours=BOOT, deadline_hours=4)
    assert packing.instances == () and packing.unplaced == ()
    assert packing.total_usd == 0 and packing.billed_hours == 0 and packing.makespan_h == 0
    assert packing.lower_bound_usd == 0


@pytest.mark.parametrize(("jobs", "offers", "kwargs", "message"), [
    ([Job("a", 1)], [], {}, "no offers"),
    ([Job("a", 0)], [RTX1], {}, "job a: hours must be > 0"),
    ([Job("a", -1)], [RTX1], {}, "job a: hours must be > 0"),
    ([Job("a", float("nan"))], [RTX1], {}, "job a: hours must be > 0"),
    ([Job("a", 1), Job("a", 2)], [RTX1], {}, "job a: the name is used twice"),
    ([Job("a", 1)], [Offer("p", 0, 1.0)], {}, "offer p: gpus must be an integer >= 1"),
    ([Job("a", 1)], [Offer("p", 1, 0.0)], {}, "offer p: hourly_usd must be > 0"),
    ([Job("a", 1)], [Offer("p", 1, 1.0, speed=0)], {}, "offer p: speed must be > 0"),
    ([Job("a", 1)], [RTX1], {"boot_hours": -0.1}, "boot_hours must be >= 0"),
    ([Job("a", 1)], [RTX1], {"deadline_hours": 0}, "deadline_hours must be > 0"),
    ([Job("a", 1)], [RTX1], {"max_usd": -1}, "max_usd must be >= 0"),
])
def test_bad_inputs_are_refused(jobs, offers, kwargs, message):
    with pytest.raises(ValueError, match=message) as caught:
        pack(jobs, offers, **{"boot_hours": BOOT, **kwargs})
    assert "\n" not in str(caught.value)


def test_lower_bound_by_hand():
    jobs = twenty_minutes(8)
    # one instance: ceil(8/3 + 0.1) = 3 h on RTX1 ($4.5); ceil(8/12 + 0.1) = 1 h on RTX4 ($6)
    assert lower_bound(jobs, [RTX1], boot_hours=BOOT) == pytest.approx(4.5)
    assert lower_bound(jobs, [RTX4], boot_hours=BOOT) == pytest.approx(6.0)
    assert lower_bound(jobs, [RTX4, RTX1], boot_hours=BOOT) == pytest.approx(4.5)
    # deadline 0.5 h: lanes of 0.4 h; RTX2 needs n = ceil(2.67 / 0.8) = 4 instances, max(4, ceil(1.33 + 0.4)) = 4 h
    assert lower_bound(jobs, [RTX2], boot_hours=BOOT, deadline_hours=0.5) == pytest.approx(12.0)


@pytest.mark.parametrize("deadline", [4.0, 8.0, 12.0, None])
def test_plan_is_within_five_percent_of_the_lower_bound_on_a_thousand_jobs(deadline):
    jobs = uniform_jobs(1000, seed=7)
    packing = pack(jobs, FAMILY, boot_hours=BOOT, deadline_hours=deadline)
    check_consistent(packing, jobs, deadline=deadline)
    assert packing.unplaced == ()
    assert packing.lower_bound_usd <= packing.total_usd + 1e-6
    assert packing.total_usd <= 1.05 * packing.lower_bound_usd
    for offer in FAMILY:
        alone = pack(jobs, [offer], boot_hours=BOOT, deadline_hours=deadline)
        assert packing.lower_bound_usd <= alone.total_usd + 1e-6
        assert packing.total_usd <= alone.total_usd + 1e-6
        assert packing.lower_bound_usd <= naive(jobs, offer, boot_hours=BOOT).total_usd + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_naive_is_never_cheaper_than_packing_on_the_same_offer(seed):
    rng = random.Random(seed)
    jobs = [Job(f"e{i}", rng.choice([0.05, 0.3, 0.9, 1.7, 3.5])) for i in range(rng.randint(1, 60))]
    for offer in FAMILY:
        baseline = naive(jobs, offer, boot_hours=BOOT)
        for deadline in (None, 4.0, 24.0):
            packing = pack(jobs, [offer], boot_hours=BOOT, deadline_hours=deadline)
            check_consistent(packing, jobs, deadline=deadline)
            assert packing.total_usd <= baseline.total_usd + 1e-6
            assert packing.lower_bound_usd <= packing.total_usd + 1e-6


def test_lower_bound_holds_for_a_mix_of_plans_that_rounds_differently():
    # one 1-hour job per lane; a 2-GPU instance ($2) plus a 1-GPU one ($1.01) costs $3.01,
    # under the cheapest single-offer bound ($3.03 for three 1-GPU instances)
    cheap2, one = Offer("two", 2, 2.0), Offer("one", 1, 1.01)
    jobs = [Job(f"e{i}", 1.0) for i in range(3)]
    packing = pack(jobs, [cheap2, one], boot_hours=0, deadline_hours=1)
    assert packing.total_usd == pytest.approx(3.01)
    assert packing.lower_bound_usd <= packing.total_usd + 1e-9
