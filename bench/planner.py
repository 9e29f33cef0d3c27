"""Sprint planner: what `stager.sprint.packing.pack` costs against its lower bound and the naive plan, and how fast.

    python bench/planner.py [--jobs 1000] [--repeats 5] [--seed 1]

Seeded workloads of ``--jobs`` experiments: uniform 5-90 min; all 20 min;
bimodal 10 min / 3 h with 20% and with 50% of them 3 h long. Each with a
deadline of 4, 8 and 12 h and none. Offers: g1-gpu-rtx6000-1 ($1.5/h, 1 GPU),
-2 ($3.0/h, 2 GPUs), -4 ($6.0/h, 4 GPUs); boot 0.1 h.

For each: pack()'s time (best of ``--repeats``), the plan's cost, `lower_bound`
and their ratio; the baseline measured in the same run is the naive plan, one
g1-gpu-rtx6000-1 per experiment, and its ratio to the plan.

Targets: pack() <= 1 s, plan <= 1.05 x lower bound. `lower_bound` ignores that
experiments do not split, so with a deadline and few lengths it can be out of
reach for any plan. For those workloads (one or two lengths) the benchmark also
prints a tighter bound, the "lane bound": these offers share one price per
GPU-hour p, so every plan costs at least p x the sum over lanes of
ceil(boot + the lane's work); a lane holds a of the long and b of the short
experiments within the deadline; the linear relaxation of covering all the
experiments with such lanes, rounded up to whole GPU-hours, bounds every plan.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import stager_source_state  # noqa: E402

from stager.sprint.packing import Job, Offer, naive, pack  # noqa: E402

OFFERS = (Offer("g1-gpu-rtx6000-1", 1, 1.5), Offer("g1-gpu-rtx6000-2", 2, 3.0), Offer("g1-gpu-rtx6000-4", 4, 6.0))
PER_GPU_HOUR = 1.5  # the same for all three offers: what makes the lane bound hold
BOOT_H = 0.1
DEADLINES = (4.0, 8.0, 12.0, None)
TARGET_S = 1.0
TARGET_RATIO = 1.05


def workloads(count: int, seed: int) -> dict[str, list[Job]]:
    rng = random.Random(seed)
    uniform = [Job(f"u{i}", rng.uniform(5, 90) / 60) for i in range(count)]
    twenty = [Job(f"t{i}", 20 / 60) for i in range(count)]

    def bimodal(share: float, tag: str) -> list[Job]:
        return [Job(f"{tag}{i}", 3.0 if rng.random() < share else 10 / 60) for i in range(count)]

    return {"uniform 5-90 min": uniform, "all 20 min": twenty, "bimodal 20% 3 h": bimodal(0.2, "b"),
            "bimodal 50% 3 h": bimodal(0.5, "h")}


def lane_bound(jobs: list[Job], deadline: float | None) -> float | None:
    """The lane bound described above, for one or two distinct lengths under a deadline; None otherwise."""
    lengths = sorted({job.hours for job in jobs}, reverse=True)
    if deadline is None or len(lengths) > 2:
        return None
    counts = [sum(1 for job in jobs if job.hours == length) for length in lengths]
    long_h, short_h = lengths[0], lengths[-1]
    n_long, n_short = (counts[0], counts[1]) if len(lengths) == 2 else (counts[0], 0)
    room = deadline - BOOT_H
    lanes = []  # (long ones, short ones, billed hours): the fullest lane of each mix and length
    for a in range(int(room / long_h + 1e-9) + 1):
        for hours in range(math.ceil(BOOT_H + a * long_h - 1e-9), math.ceil(deadline - 1e-9) + 1):
            left = min(hours, deadline) - BOOT_H - a * long_h
            b = int(left / short_h + 1e-9) if left >= -1e-9 and len(lengths) == 2 else 0
            if a + b:
                lanes.append((a, b, max(1, hours)))

    def need(n: int, per_lane: int) -> float:
        return 0.0 if n == 0 else (math.inf if per_lane == 0 else n / per_lane)

    best = min(h * max(need(n_long, a), need(n_short, b)) for a, b, h in lanes)
    for i, (a1, b1, h1) in enumerate(lanes):  # a basic solution with both coverings tight uses two kinds of lane
        for a2, b2, h2 in lanes[i + 1:]:
            det = a1 * b2 - a2 * b1
            if det:
                x1, x2 = (n_long * b2 - n_short * a2) / det, (a1 * n_short - b1 * n_long) / det
                if x1 >= 0 and x2 >= 0:
                    best = min(best, h1 * x1 + h2 * x2)
    return PER_GPU_HOUR * math.ceil(best - 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(stager_source_state())
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU cores, {platform.platform()}")
    print(f"{args.jobs} experiments per workload, boot {BOOT_H} h, offers "
          + ", ".join(f"{o.plan} (${o.hourly_usd}/h)" for o in OFFERS) + f", best of {args.repeats} runs")
    header = (f"{'workload':<17} {'deadline':>8} {'time s':>7} {'plan $':>9} {'bound $':>9} {'plan/bd':>7} "
              f"{'lane bd $':>9} {'plan/lane':>9} {'naive $':>9} {'naive/plan':>10}")
    print(header)
    print("-" * len(header))
    worst_s, worst_ratio, worst_best = 0.0, 0.0, 0.0
    for name, jobs in workloads(args.jobs, args.seed).items():
        baseline = naive(jobs, OFFERS[0], boot_hours=BOOT_H)
        for deadline in DEADLINES:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                plan = pack(jobs, OFFERS, boot_hours=BOOT_H, deadline_hours=deadline)
                times.append(time.perf_counter() - start)
            if plan.unplaced:
                raise SystemExit(f"{name}, deadline {deadline}: {len(plan.unplaced)} experiments not planned")
            ratio = plan.total_usd / plan.lower_bound_usd
            lanes = lane_bound(jobs, deadline)
            best = max(plan.lower_bound_usd, lanes or 0.0)
            worst_s, worst_ratio = max(worst_s, min(times)), max(worst_ratio, ratio)
            worst_best = max(worst_best, plan.total_usd / best)
            lane_cells = f"{lanes:>9.1f} {plan.total_usd / lanes:>9.3f}" if lanes else f"{'-':>9} {'-':>9}"
            shown = f"{deadline:g} h" if deadline else "none"
            print(f"{name:<17} {shown:>8} {min(times):>7.3f} {plan.total_usd:>9.1f} {plan.lower_bound_usd:>9.1f} "
                  f"{ratio:>7.3f} {lane_cells} {baseline.total_usd:>9.1f} {baseline.total_usd / plan.total_usd:>10.2f}")
    print(f"slowest pack(): {worst_s:.3f} s; worst plan / lower bound: {worst_ratio:.3f}; "
          f"worst plan / max(lower bound, lane bound): {worst_best:.3f}")
    time_met = worst_s <= TARGET_S
    for bound, worst in (("lower_bound", worst_ratio), ("max(lower_bound, lane bound)", worst_best)):
        cost_met = worst <= TARGET_RATIO
        verdict = "PASS" if time_met and cost_met else "FAIL"
        print(f"{verdict}: target <= {TARGET_S:g} s and <= {TARGET_RATIO} x {bound} "
              f"(time {'met' if time_met else 'MISSED'}, cost {'met' if cost_met else 'MISSED'})")


if __name__ == "__main__":
    main()
