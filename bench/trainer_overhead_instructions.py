"""stager's overhead against the raw loop, counted in instructions instead of timed.

On a shared virtual machine a timed ratio scatters by several percent from run to run
(``bench/trainer_overhead.py``, ``bench/trainer_overhead_lockstep.py``), more than
the 1–3% the trainer's target is about.  An instruction count does not: here every
instruction the fit executes, on all its threads (stager's checkpoint thread too), is
counted by valgrind's cachegrind, and a second count of the same thing comes out the
same to about one part in 10^5.

How the steady state is isolated: one process, under valgrind, imports everything and
warms every contender up (a fit of two short epochs: lazy imports, first calls, a
checkpoint replacing another); then it forks one child per contender and step count,
each running one fit of the same data.  A child's count includes the shared prefix, so
for each contender

    instructions per step = (count(fit of L steps) - count(fit of S steps)) / (L - S)

keeps only what a step costs in the steady state, the epoch-end work included when
L - S spans whole epochs (the default 256 and 512: one epoch of 256 batches, ending
with stager's checkpoint replacing the previous one).  Construction, setup and
teardown are in both fits and cancel.  ``raw-again``, a second raw loop, is the control:
its ratio shows what the method resolves.

What a count is not: time.  A cache miss, a page fault or a wait for the disk costs no
instruction, and the kernel's work (the checkpoint's write and fsync) is not counted at
all; valgrind also presents a CPU without AVX-512, so torch runs its AVX2 kernels, whose
count differs from the native ones.  The ratio is the share of user-space work stager
adds to each step, a floor under the timed ratio, not a replacement for it.

``--breakdown N`` prints the N functions (compiled code: the interpreter, torch, libc)
whose counts stager adds to most per step.  ``--opcodes N`` needs no valgrind: it counts
the Python bytecode instructions each Python function executes per step (a trace
function, so slow but deterministic), raw and stager in the same process, and prints the
N functions stager adds most: the Python-level view the breakdown cannot give.

    python bench/trainer_overhead_instructions.py          # raw, raw-again, stager: about 16 minutes on 2 cores
    python bench/trainer_overhead_instructions.py --contenders raw,stager,stager-bare,stager-no-checkpoints
    python bench/trainer_overhead_instructions.py --contenders raw,stager --breakdown 30
    git archive HEAD~1 stager | tar -x -C /tmp/before     # (an empty /tmp/before first) then, old against new:
    python bench/trainer_overhead_instructions.py --contenders raw,stager --baseline-source /tmp/before
    python bench/trainer_overhead_instructions.py --opcodes 30
"""

from __future__ import annotations

import argparse
import collections
import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable

import torch
import trainer_overhead as shared
from bench_common import stager_source_state
from trainer_overhead_lockstep import contender_names, runner

WARM_UP_BATCHES = 4  # per epoch, two epochs: every code path of a fit runs once before counting
# One thread everywhere: idle pool threads spinning under valgrind would add instructions by chance.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


# -- under valgrind: warm up, then fork one child per fit ------------------------------------------


def weights_digest(out: dict) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(out["weights"].items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def counting_parent(names: list[str], steps: tuple[int, int], opt: str, jobs: int, folder: str,
                    baseline_source: str | None) -> None:
    torch.set_num_threads(1)
    shared.quiet_warnings()
    if baseline_source:  # first: it must be the stager this process imports
        runners = {"stager-baseline": runner("stager-baseline", baseline_source)}
    else:
        runners = {name: runner(name) for name in names}
    warm_up = shared.make_data(shared.BATCH * WARM_UP_BATCHES)
    dataset = shared.make_data(shared.steps_to_samples(max(steps)))
    for name, run in runners.items():
        shared.one_run(name, run, warm_up, 2 * WARM_UP_BATCHES, opt, os.devnull)
    gc.collect()
    fits = [(name, n) for n in steps for name in runners]
    running: dict[int, tuple[str, int]] = {}
    manifest = []
    while fits or running:
        while fits and len(running) < jobs:
            name, n = fits.pop(0)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    out = shared.one_run(name, runners[name], dataset, n, opt, os.devnull)
                    with open(os.path.join(folder, f"fit-{os.getpid()}.json"), "w") as f:
                        json.dump({"weights": weights_digest(out)}, f)
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)  # no interpreter teardown: the same exit for every child
            running[pid] = (name, n)
        pid, status = os.wait()
        name, n = running.pop(pid)
        manifest.append({"name": name, "steps": n, "pid": pid, "status": status})
    with open(os.path.join(folder, f"manifest-{os.getpid()}.json"), "w") as f:
        json.dump(manifest, f)


# -- reading cachegrind's files --------------------------------------------------------------------


def read_counts(path: str, per_function: bool) -> tuple[int, collections.Counter]:
    """The total instruction count of a cachegrind file and, if asked, the count per function."""
    total, functions = None, collections.Counter()
    file_name = function = ""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                total = int(line.split()[1])
            elif not per_function:
                continue
            elif line.startswith("fl="):
                file_name = line[3:].strip()
            elif line.startswith("fn="):
                function = line[3:].strip()
            elif line[:1].isdigit():
                functions[(file_name, function)] += int(line.split()[1])
    if total is None:
        raise RuntimeError(f"{path}: no summary line (did the fit crash?)")
    return total, functions


def short_name(file_name: str, function: str) -> str:
    function = re.sub(r"\(.*", "", function) if len(function) > 90 else function
    return f"{os.path.basename(file_name)}:{function}"[:110]


# -- the coordinator -------------------------------------------------------------------------------


def run_counting(names: list[str], args: argparse.Namespace, folder: str) -> list[dict]:
    """Start one valgrind parent per source tree, wait, and return every fit's count."""
    groups = [[n for n in names if n != "stager-baseline"]]
    if "stager-baseline" in names:
        groups.append(["stager-baseline"])
    jobs = max(1, args.jobs // len(groups))
    env = dict(os.environ, **SINGLE_THREADED)
    procs = []
    for i, group in enumerate(groups):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={folder}/cg.%p",
               f"--log-file={folder}/valgrind.%p.log", sys.executable, os.path.abspath(__file__),
               "--counting-parent", ",".join(group), "--steps", args.steps, "--optimizer", args.optimizer,
               "--jobs", str(jobs), "--folder", folder]
        if group == ["stager-baseline"]:
            cmd += ["--baseline-source", args.baseline_source]
        log = open(os.path.join(folder, f"parent-{i}.log"), "w")
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for proc, log in procs:
        proc.wait()
        log.close()
        if proc.returncode:
            raise SystemExit(f"a counting process failed (exit {proc.returncode}); "
                             f"see {log.name} and {folder}/valgrind.*.log")
    fits = []
    for manifest in sorted(f for f in os.listdir(folder) if f.startswith("manifest-")):
        with open(os.path.join(folder, manifest)) as f:
            for fit in json.load(f):
                if fit["status"]:
                    raise SystemExit(f"the fit of {fit['name']} ({fit['steps']} steps) failed; see {folder}")
                counts = os.path.join(folder, f"cg.{fit['pid']}")
                fit["total"], fit["functions"] = read_counts(counts, args.breakdown > 0)
                with open(os.path.join(folder, f"fit-{fit['pid']}.json")) as g:
                    fit["weights"] = json.load(g)["weights"]
                fits.append(fit)
    return fits


def report_counts(names: list[str], fits: list[dict], steps: tuple[int, int], breakdown: int) -> None:
    short, long = steps
    by = {(f["name"], f["steps"]): f for f in fits}
    per_step = {n: (by[n, long]["total"] - by[n, short]["total"]) / (long - short) for n in names}
    raw = per_step["raw"]
    print(f"instructions per step = (count of a {long}-step fit - count of a {short}-step fit) / {long - short}")
    print(f"  {'contender':<24}{'per step':>14}{'vs raw':>12}{'ratio':>10}   final weights")
    for n in names:
        same = by[n, long]["weights"] == by["raw", long]["weights"]
        print(f"  {n:<24}{per_step[n]:>14,.0f}{per_step[n] - raw:>+12,.0f}{per_step[n] / raw:>9.4f}x   "
              f"{'identical to' if same else 'DIFFERENT from'} raw's")
    if "stager" in per_step:
        ratio = per_step["stager"] / raw
        print(f"stager's instructions per step: {ratio:.4f}x the raw loop's ({'within' if ratio <= 1.03 else 'above'} "
              "1.03x; instructions, not time: see the docstring)")
    if breakdown:
        n = "stager" if "stager" in per_step else names[1]
        delta = collections.Counter()
        for name, sign in ((n, 1), ("raw", -1)):
            for (file_name, fn), count in by[name, long]["functions"].items():
                delta[(file_name, fn)] += sign * count
            for (file_name, fn), count in by[name, short]["functions"].items():
                delta[(file_name, fn)] -= sign * count
        print(f"\nwhere {n}'s extra {per_step[n] - raw:,.0f} instructions per step go (compiled functions; "
              "the interpreter's own functions stand for Python code):")
        for (file_name, fn), count in sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:breakdown]:
            print(f"  {count / (long - short):>+12,.0f}  {short_name(file_name, fn)}")


# -- Python bytecode counts, no valgrind -----------------------------------------------------------


def count_opcodes(run: Callable, dataset, n: int, opt: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()

    def local(frame, event, arg):
        if event == "opcode":
            code = frame.f_code
            counts[(code.co_filename, code.co_firstlineno, code.co_name)] += 1
        return local

    def trace(frame, event, arg):
        frame.f_trace_opcodes, frame.f_trace_lines = True, False
        return local

    threading.settrace(trace)
    sys.settrace(trace)
    try:
        shared.one_run("opcodes", run, dataset, n, opt, os.devnull)
    finally:
        sys.settrace(None)
        threading.settrace(None)
    return counts


def report_opcodes(steps: tuple[int, int], opt: str, top: int) -> None:
    torch.set_num_threads(1)
    shared.quiet_warnings()
    short, long = steps
    runners = {"raw": runner("raw"), "stager": runner("stager")}
    warm_up = shared.make_data(shared.BATCH * WARM_UP_BATCHES)
    dataset = shared.make_data(shared.steps_to_samples(long))
    per_fit = {}  # name -> bytecodes per function, the long fit's less the short fit's
    for name, run in runners.items():
        shared.one_run(name, run, warm_up, 2 * WARM_UP_BATCHES, opt, os.devnull)
        per_fit[name] = count_opcodes(run, dataset, long, opt)
        per_fit[name].subtract(count_opcodes(run, dataset, short, opt))
    raw, stager = (sum(per_fit[n].values()) / (long - short) for n in ("raw", "stager"))
    print(f"Python bytecode instructions per step (fits of {long} and {short} steps, differenced): "
          f"raw {raw:,.0f}, stager {stager:,.0f} (+{stager - raw:,.0f})")
    added = per_fit["stager"]
    added.subtract(per_fit["raw"])
    print(f"the {top} Python functions with the most added per step (negative: fewer than raw's):")
    # torch's site-packages, and the repository (above bench/)
    roots = [os.path.dirname(os.path.dirname(os.path.abspath(m.__file__))) for m in (torch, shared)]
    for (file_name, line, function), count in sorted(added.items(), key=lambda kv: -abs(kv[1]))[:top]:
        root = next((r for r in roots if file_name.startswith(r + os.sep)), None)
        where = os.path.relpath(file_name, root) if root else file_name
        print(f"  {count / (long - short):>+10.1f}  {where}:{line} {function}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contenders", default="raw,raw-again,stager",
                        help="comma-separated, raw first (default raw,raw-again,stager); also stager-bare, "
                        "stager-no-checkpoints, stager-no-logger")
    parser.add_argument("--steps", default="256,512",
                        help="the two fits' step counts, S,L (default 256,512: they differ by one whole epoch)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="fits counted at once")
    parser.add_argument("--baseline-source", help="a folder holding another stager package (for example from git "
                        "archive OLD stager | tar -x -C DIR): adds the contender stager-baseline, its defaults")
    parser.add_argument("--breakdown", type=int, default=0, metavar="N",
                        help="also print the N compiled functions stager adds most instructions to per step")
    parser.add_argument("--opcodes", type=int, default=0, metavar="N",
                        help="instead, count Python bytecodes (no valgrind) and print the N functions "
                        "stager adds most to")
    parser.add_argument("--keep", help="keep cachegrind's files in this folder (default: a temporary one, removed)")
    parser.add_argument("--counting-parent", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = tuple(int(s) for s in args.steps.split(","))
    if len(steps) != 2 or not 0 < steps[0] < steps[1]:
        parser.error("--steps takes two step counts, the smaller first: S,L")

    if args.counting_parent:
        counting_parent(args.counting_parent.split(","), steps, args.optimizer, args.jobs, args.folder,
                        args.baseline_source)
        return
    print(f"trainer overhead in instructions; torch {torch.__version__}, {stager_source_state()}")
    print(f"  MLP {shared.IN_FEATURES}->{shared.HIDDEN}->{shared.CLASSES}, {args.optimizer.upper()}, "
          f"batch {shared.BATCH}, {shared.steps_to_samples(max(steps)) // shared.BATCH} batches per epoch")
    if args.opcodes:
        report_opcodes(steps, args.optimizer, args.opcodes)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind); --opcodes N works without it")
    names = contender_names(args, parser)
    folder = args.keep or tempfile.mkdtemp(prefix="bench-instructions-")
    os.makedirs(folder, exist_ok=True)
    started = time.perf_counter()
    try:
        fits = run_counting(names, args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"  {len(fits)} fits counted under valgrind in {time.perf_counter() - started:.0f} s")
    report_counts(names, fits, steps, args.breakdown)


if __name__ == "__main__":
    main()
