"""stager's overhead against the raw loop, with the contenders run in lock-step.

``bench/trainer_overhead.py`` interleaves whole runs.  On a virtual machine whose
speed changes by a third for seconds at a time, a run of 2,048 steps (1.5 s) can
straddle such a change, so whole-run ratios scatter by ±10% and cannot resolve the
1–3% this target is about.  Here the contenders are the same fits (the same code,
imported from that file), each in its own process, and they take turns:

* every process stops at each epoch's start, once more when its last epoch has
  ended (before the trainer's teardown), and around each fit; a piece of work
  between two stops is a *segment* (construction and setup, one epoch with its
  epoch-end work such as the checkpoint, teardown);
* the coordinator lets one process run one segment, then the next process runs the
  same segment, the order alternating, so the two halves of a pair run within
  about 0.2 s of each other;
* each process is pinned to its own core (swapped every fit), so neither runs on
  caches the other has just filled.

A segment's cost is its wall-clock time plus the CPU time the process's other
threads used while it waited at the next stop: stager's background checkpoint
thread finishes its work there, and that work is counted, not hidden.

Reported, for each contender against the raw loop: the ratio of total cost over
all fits (every segment of every fit: construction, all epochs, teardown), the
same in wall-clock time only, the per-fit ratios, and the per-epoch pair ratios,
whose median is the steadiest figure (a slow spell of the machine that hits one
epoch of a pair is an outlier there).  ``raw-again``, a second raw loop, is the
control: what its ratios show is what the method resolves on the machine.
Numbers are printed, never asserted.

    python bench/trainer_overhead_lockstep.py                       # raw + stager, 7 fits of 2,048 steps
    python bench/trainer_overhead_lockstep.py --contenders raw,stager,raw-again,stager-bare --fits 14
    git archive HEAD~1 stager | tar -x -C /tmp/before     # (an empty /tmp/before first) then, old against new:
    python bench/trainer_overhead_lockstep.py --contenders raw,stager,raw-again --baseline-source /tmp/before
    .bench-venv/bin/python bench/trainer_overhead_lockstep.py --contenders raw,stager,lightning
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import trainer_overhead as shared
from bench_common import stager_source_state

# -- the child: one contender, many fits, stopping at every segment boundary -------------------

# stager's defaults less one piece: what that piece costs
_STAGER_WITHOUT = {
    "stager-no-checkpoints": {"enable_checkpointing": False},
    "stager-no-logger": {"logger": False},
}


def runner(name: str, baseline_source: str | None = None) -> Callable:
    """The fit that contender ``name`` runs (``stager-baseline``: stager from ``baseline_source``,
    which must be imported before any other stager in this process)."""
    if name == "raw-again":  # a second raw loop: the method's control, its ratio should be 1
        return shared.run_raw
    if name == "stager-baseline":  # stager's defaults, from another source tree (--baseline-source)
        sys.path.insert(0, baseline_source)
        import stager

        if not stager.__file__.startswith(os.path.abspath(baseline_source)):
            raise SystemExit(f"stager-baseline imported stager from {stager.__file__}, not {baseline_source}")
        return shared.contenders(False)["stager"]
    if name in _STAGER_WITHOUT:
        return shared._make_stager_runner(**_STAGER_WITHOUT[name])
    return shared.contenders(name.startswith("lightning"), stager_bare=name == "stager-bare")[name]


def contender_names(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """``--contenders``, with stager-baseline added for ``--baseline-source`` (made absolute)."""
    names = args.contenders.split(",")
    if args.baseline_source:
        args.baseline_source = os.path.abspath(args.baseline_source)
        names.append("stager-baseline")
    if names[0] != "raw" or len(names) < 2:
        parser.error("--contenders must start with raw and name at least one more")
    return names


class Gate:
    """Blocks at a stop until the coordinator says go; times what runs between stops."""

    def __init__(self, ready_fd: int, go_fd: int) -> None:
        self.ready = os.fdopen(ready_fd, "w", buffering=1)
        self.go = os.fdopen(go_fd, "rb", buffering=0)
        self.released_at = 0.0
        self.segments: list[list[float]] = []  # [wall seconds, other threads' CPU seconds while waiting]

    def __call__(self) -> None:
        arrived, cpu_before = time.perf_counter(), time.process_time()
        if self.released_at:
            self.segments.append([arrived - self.released_at, 0.0])
        self.ready.write("ready\n")
        if self.go.read(1) != b"g":
            raise SystemExit(0)  # the coordinator went away
        waited_cpu = time.process_time() - cpu_before  # this thread slept: the rest is other threads'
        if self.segments:
            self.segments[-1][1] += waited_cpu
        self.released_at = time.perf_counter()

    def take(self) -> list[list[float]]:
        taken, self.segments, self.released_at = self.segments, [], 0.0
        return taken


def every_kth_epoch(gate: Gate, k: int, epochs: int) -> Callable[[], None]:
    """``gate`` at every ``k``-th epoch's start and at the end of training: a fit calls
    ``epoch_gate`` ``epochs + 1`` times."""
    calls = itertools.count()

    def epoch_gate() -> None:
        i = next(calls) % (epochs + 1)
        if i % k == 0 or i == epochs:
            gate()

    return epoch_gate


def child(name: str, steps: int, fits: int, opt: str, cores: list[int], ready_fd: int, go_fd: int, output: str,
          baseline_source: str | None, epochs_per_segment: int) -> None:
    torch.set_num_threads(1)
    shared.quiet_warnings()
    dataset = shared.make_data(shared.steps_to_samples(steps))
    run = runner(name, baseline_source)
    n_batches = len(shared.make_loader(dataset))
    shared.one_run(name, run, dataset, min(steps, n_batches), opt, output)  # warm-up, ungated
    gate = Gate(ready_fd, go_fd)
    shared.epoch_gate = every_kth_epoch(gate, epochs_per_segment, -(-steps // n_batches))
    for fit in range(fits):
        if cores:
            os.sched_setaffinity(0, {cores[fit % len(cores)]})
        with tempfile.TemporaryDirectory(prefix="bench-lockstep-") as root:  # removed outside the segments
            gc.collect()
            with shared.output_to(output):
                gate()  # the fit's start: construction and setup follow
                out = run(dataset, steps, opt, root)
                gate()  # after teardown
        digest = hash(tuple(float(v.double().sum()) for v in out["weights"].values()))
        gate.ready.write("result " + json.dumps({"segments": gate.take(), "weights": digest}) + "\n")
    gate.ready.write("done\n")


# -- the coordinator -------------------------------------------------------------------------


class Contender:
    def __init__(self, name: str, args: argparse.Namespace, cores: list[int], output: str) -> None:
        self.name = name
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--steps", str(args.steps),
               "--fits", str(args.fits), "--optimizer", args.optimizer, "--cores", ",".join(map(str, cores)),
               "--fds", f"{ready_w},{go_r}", "--output", output, "--epochs-per-segment", str(args.epochs_per_segment)]
        if name == "stager-baseline":
            cmd += ["--baseline-source", args.baseline_source]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
        with open(output, "ab") as sink:
            self.proc = subprocess.Popen(cmd, pass_fds=(ready_w, go_r), env=env, stdout=sink, stderr=sink)
        os.close(ready_w)
        os.close(go_r)
        self.ready = os.fdopen(ready_r, "r")
        self.go = os.fdopen(go_w, "wb", buffering=0)
        self.results: list[dict[str, Any]] = []

    def next_message(self) -> str:
        line = self.ready.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"{self.name} exited (rc {self.proc.returncode}); see its output")
        if line.startswith("result "):
            self.results.append(json.loads(line[len("result "):]))
            return self.next_message()
        return line.strip()

    def release(self) -> str:
        self.go.write(b"g")
        return self.next_message()


def coordinate(contenders: list[Contender]) -> None:
    for c in contenders:
        assert c.next_message() == "ready", c.name  # at the first fit's start
    segment = 0
    finished = 0
    while finished < len(contenders):
        shift = segment % len(contenders)
        finished = 0
        for c in contenders[shift:] + contenders[:shift]:
            if c.release() == "done":
                finished += 1
        segment += 1
        if 0 < finished < len(contenders):
            raise RuntimeError("the contenders ran different numbers of segments")


def ratio_table(names: list[str], results: dict[str, list[dict]], steps: int) -> dict[str, dict[str, float]]:
    """Print one row per contender; return its ratios to raw (total cost, wall only, median epoch pair)."""
    fits = len(results["raw"])

    def cost(segment: list[float]) -> float:
        return segment[0] + segment[1]

    # A fit's segments: construction and setup, one per epoch, teardown.
    totals = {n: [sum(cost(s) for s in r["segments"]) for r in results[n]] for n in names}
    walls = {n: sum(s[0] for r in results[n] for s in r["segments"]) for n in names}
    background = {n: sum(s[1] for r in results[n] for s in r["segments"]) for n in names}
    epochs = {n: [cost(s) for r in results[n] for s in r["segments"][1:-1]] for n in names}
    us = 1e6 / steps
    print(f"{'contender':<16}{'per step':>10}{'vs raw':>10}{'ratio':>8}{'wall only':>11}{'median fit':>12}"
          f"{'fits':>18}{'epoch pairs p10..p50..p90':>29}{'bg CPU/fit':>12}")
    ratios = {}
    for n in names:
        pooled = sum(totals[n]) / sum(totals["raw"])
        per_fit = sorted(t / b for t, b in zip(totals[n], totals["raw"]))
        pairs = sorted(e / b for e, b in zip(epochs[n], epochs["raw"]))
        q = lambda p: pairs[int(p * (len(pairs) - 1))]  # noqa: E731
        mean_step = statistics.mean(totals[n]) * us
        extra = (statistics.mean(totals[n]) - statistics.mean(totals["raw"])) * us
        print(f"{n:<16}{mean_step:>8.1f}µs{extra:>+8.1f}µs{pooled:>7.3f}x{walls[n] / walls['raw']:>10.3f}x"
              f"{statistics.median(per_fit):>11.3f}x{per_fit[0]:>8.3f}x..{per_fit[-1]:.3f}x"
              f"{q(.1):>12.3f}x..{q(.5):.3f}x..{q(.9):.3f}x{background[n] / fits * 1e3:>10.1f}ms")
        ratios[n] = {"ratio": pooled, "wall": walls[n] / walls["raw"], "pairs": q(.5)}
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contenders", default="raw,stager",
                        help="comma-separated, raw first (default raw,stager); also stager-bare (no logger, "
                        "checkpoints or bar), stager-no-checkpoints, stager-no-logger, lightning (from .bench-venv) "
                        "and raw-again (a second raw loop: the control)")
    parser.add_argument("--steps", type=int, default=2048,
                        help="optimizer steps per fit (default 2048 = 8 epochs of 256 batches)")
    parser.add_argument("--fits", type=int, default=7, help="fits per contender (default 7)")
    parser.add_argument("--epochs-per-segment", type=int, default=1,
                        help="epochs run between turns (default 1; 8 = a whole fit of 2,048 steps per turn)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--baseline-source",
                        help="a folder holding another stager package (for example from git archive OLD stager | "
                        "tar -x -C DIR): adds the contender stager-baseline, stager's defaults from there")
    parser.add_argument("--save", help="also write every segment's cost, per contender and fit, to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cores", default="", help=argparse.SUPPRESS)
    parser.add_argument("--fds", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        ready_fd, go_fd = map(int, args.fds.split(","))
        cores = [int(c) for c in args.cores.split(",") if c]
        child(args.child, args.steps, args.fits, args.optimizer, cores, ready_fd, go_fd, args.output,
              args.baseline_source, args.epochs_per_segment)
        return

    names = contender_names(args, parser)
    available = sorted(os.sched_getaffinity(0))
    output = os.path.join(tempfile.mkdtemp(prefix="bench-lockstep-"), "trainers.log")
    print("trainer overhead, contenders in lock-step (one segment each in turn; see the docstring)")
    print(f"  torch {torch.__version__}, {len(available)} CPU cores, torch.set_num_threads(1); {stager_source_state()}")
    print(f"  MLP {shared.IN_FEATURES}->{shared.HIDDEN}->{shared.CLASSES}, {args.optimizer.upper()}, "
          f"batch {shared.BATCH}, {args.steps} steps per fit, {args.fits} fits each; trainers' output -> {output}")
    # Each contender on its own core, shifted by one every fit (one core: all share it).
    cores = {n: [available[(i + f) % len(available)] for f in range(args.fits)] if len(available) > 1 else []
             for i, n in enumerate(names)}
    started = time.perf_counter()
    contenders = [Contender(n, args, cores[n], output) for n in names]
    try:
        coordinate(contenders)
    finally:
        for c in contenders:
            c.go.close()
            c.proc.wait()
    results = {c.name: c.results for c in contenders}
    if args.save:
        with open(args.save, "w") as f:
            json.dump({"args": vars(args), "cores": cores, "results": results}, f)
    print(f"  {time.perf_counter() - started:.0f} s in all")
    print()
    print("cost = wall-clock time of each segment + the CPU time of the process's other threads while it waited")
    print("after it (the checkpoint thread's fsync and rename); per step = mean over fits of (construction + all")
    print("epochs + teardown) / steps; ratio = total cost over all fits / raw's; wall only = the same without the")
    print("other threads' CPU time; median fit = median of the per-fit ratios; epoch pairs = each epoch's cost /")
    print("raw's same epoch of the same fit, run next to it (the median is the steadiest figure: a slow spell hits")
    print("one epoch of a pair at most); bg CPU = the other threads' CPU time per fit.  raw-again, a second raw")
    print("loop, shows what the method resolves on this machine: its ratios should be 1.")
    print()
    ratios = ratio_table(names, results, args.steps)
    for n in names[1:]:
        same = all(a["weights"] == b["weights"] for a, b in zip(results[n], results["raw"]))
        verdict = "identical to" if same else "DIFFER from"
        print(f"  {n}: final weights {verdict} the raw loop's (digest of per-tensor sums)")
    if "stager" in ratios:
        r = ratios["stager"]
        met = lambda x: "MET" if x <= 1.03 else "NOT MET"  # noqa: E731
        print(f"target stager <= 1.03x raw loop: total {r['ratio']:.3f}x -> {met(r['ratio'])}; "
              f"median epoch pair {r['pairs']:.3f}x -> {met(r['pairs'])}")


if __name__ == "__main__":
    main()
