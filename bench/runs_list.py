"""`stager runs list` over a ledger of 10,000 runs, beside a bare read of the same rows.

Builds (once, in a temporary folder) a ledger of ``--runs`` finished runs, each
with a few transitions, an event and a cost, then times, as separate processes
(what a user waits for), the median over ``--rounds``:

  baseline   python -c: open the file with sqlite3 and fetch every run's id,
             pipeline and newest transition (the floor for reading the table)
  list       stager runs list            (the newest 50, the default)
  list all   stager runs list --limit 0  (all 10,000 rows printed)
  json       stager runs list --json --limit 0

The target is at most 0.5 s for `stager runs list` at 10,000 runs.

    python bench/runs_list.py
    python bench/runs_list.py --runs 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import stager_source_state

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stager.ledger import Ledger  # noqa: E402

TARGET_S = 0.5
BASELINE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT r.id, r.pipeline, (SELECT state FROM transitions t WHERE t.run_id = r.id "
                    "ORDER BY t.id DESC LIMIT 1) FROM runs r ORDER BY r.created DESC").fetchall()
print(len(rows))
"""


def make_ledger(path: Path, runs: int) -> None:
    with Ledger.open(path) as ledger:
        for i in range(runs):
            run = ledger.create_run(pipeline=f"pipeline-{i % 7}", pipeline_file="pipelines/exp.yaml", target="local",
                                    spec={"i": i}, versions={"stager": "bench"}, git=None, run_id=f"r{i:06d}")
            ledger.transition(run, "training")
            ledger.event(run, "train.epoch", {"epoch": 0, "metrics": {"val_loss": 0.1}})
            ledger.cost(run, estimated_usd=1.5, actual_usd=1.5)
            ledger.transition(run, "tearing_down")
            ledger.transition(run, "succeeded")


def timed(argv: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(stager_source_state())
    print(f"python {platform.python_version()}, {platform.platform()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite"
        start = time.perf_counter()
        make_ledger(path, args.runs)
        print(f"ledger of {args.runs} runs made in {time.perf_counter() - start:.1f} s")
        stager = [sys.executable, "-m", "stager", "runs", "list", "--ledger", str(path)]
        baseline = timed([sys.executable, "-c", BASELINE, str(path)], args.rounds)
        results = {"list": timed(stager, args.rounds), "list all": timed([*stager, "--limit", "0"], args.rounds),
                   "json": timed([*stager, "--json", "--limit", "0"], args.rounds)}
    print(f"{'what':<10} {'median s':>9} {'x baseline':>11}")
    print(f"{'baseline':<10} {baseline:>9.3f} {1:>11.2f}")
    for name, seconds in results.items():
        print(f"{name:<10} {seconds:>9.3f} {seconds / baseline:>11.2f}")
    verdict = "PASS" if results["list"] <= TARGET_S else "FAIL"
    print(f"{verdict}: stager runs list at {args.runs} runs {results['list']:.3f} s (target <= {TARGET_S} s)")


if __name__ == "__main__":
    main()
