"""The ledger's cost per event, beside a bare sqlite3 INSERT + COMMIT per row on the same disk.

In a temporary folder under ``--dir`` (default: the current folder, where
``./.stager/ledger.sqlite`` would live), interleaved over ``--rounds`` rounds:

  baseline   sqlite3, WAL, synchronous=FULL (the ledger's settings), one
             INSERT of a row shaped like an event (run id, seq, time, kind,
             JSON data, two hex hashes) and one COMMIT per row
  ledger     Ledger.event(run_id, "train.step", {...}) on one run: the secret
             guard, BEGIN IMMEDIATE, a read of the chain head, a sha256, the
             INSERT and the COMMIT

Each round uses fresh files; the reported figure is the median over rounds of
milliseconds per event. The target is at most 5 ms per event.

    python bench/ledger_events.py
    python bench/ledger_events.py --events 5000 --rounds 5 --dir /mnt/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import stager_source_state

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stager.ledger import Ledger  # noqa: E402

TARGET_MS = 5.0


def _payload(i: int) -> dict:
    return {"step": i, "epoch": i // 100, "loss": 1.0 / (i + 1), "lr": 0.001, "samples_per_s": 5123.4}


def baseline(folder: Path, events: int) -> float:
    """Seconds for ``events`` single-row INSERT + COMMIT transactions."""
    conn = sqlite3.connect(folder / "baseline.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT, seq INTEGER, time TEXT, kind TEXT, "
                 "data TEXT, prev_hash TEXT, hash TEXT)")
    digest = hashlib.sha256(b"x").hexdigest()
    start = time.perf_counter()
    for i in range(events):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO events (run_id, seq, time, kind, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ("r-bench", i + 1, "2026-11-21T12:00:00.000000+00:00", "train.step", json.dumps(_payload(i)),
                      digest, digest))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def ledger(folder: Path, events: int) -> tuple[float, float]:
    """Seconds for ``events`` Ledger.event calls on one run, and seconds to verify that run's chain."""
    with Ledger.open(folder / "ledger.sqlite") as opened:
        run_id = opened.create_run(pipeline="bench", pipeline_file="bench.yaml", target="local", spec={},
                                   versions={}, git=None)
        start = time.perf_counter()
        for i in range(events):
            opened.event(run_id, "train.step", _payload(i))
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        problems = opened.verify_chain(run_id)
        verify = time.perf_counter() - start
        if problems:
            raise SystemExit(f"the benchmark's own chain does not verify: {problems[:3]}")
    return elapsed, verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the temporary databases go")
    args = parser.parse_args()

    print(stager_source_state())
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPU cores, "
          f"{platform.platform()}")
    print(f"{args.events} events per round, {args.rounds} rounds, databases under {args.dir.resolve()}")
    base_ms, ledger_ms, verify_ms = [], [], []
    for round_no in range(1, args.rounds + 1):
        folder = Path(tempfile.mkdtemp(prefix="ledger-bench-", dir=args.dir))
        try:
            b = baseline(folder, args.events)
            e, v = ledger(folder, args.events)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        base_ms.append(b * 1000 / args.events)
        ledger_ms.append(e * 1000 / args.events)
        verify_ms.append(v * 1000)
        print(f"  round {round_no}: baseline {base_ms[-1]:.3f} ms/row, ledger {ledger_ms[-1]:.3f} ms/event, "
              f"verify_chain {verify_ms[-1]:.0f} ms")
    base, led = statistics.median(base_ms), statistics.median(ledger_ms)
    print(f"baseline (bare INSERT + COMMIT, WAL, synchronous=FULL): {base:.3f} ms per row")
    print(f"ledger   (Ledger.event):                                 {led:.3f} ms per event")
    print(f"ratio ledger / baseline: {led / base:.2f}x")
    print(f"verify_chain over {args.events + 2} events: {statistics.median(verify_ms):.0f} ms")
    verdict = "within" if led <= TARGET_MS else "OVER"
    print(f"target <= {TARGET_MS:.0f} ms per event: {verdict} ({led:.3f} ms)")


if __name__ == "__main__":
    main()
