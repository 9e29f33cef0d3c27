"""Reading a ledger of 10,000 runs: `stager runs list` and the `stager ui` runs page, beside a bare SQLite read.

Builds once (and keeps in ``~/.cache/stager-bench``) a ledger of ``--runs``
finished runs made as bench/runs_list.py makes them, then measures in one go:

  baseline   in this process: open the file with sqlite3, fetch the first page (100 rows)
             of id, pipeline, target, created and latest state, newest first, close
  list       stager runs list, as a separate process (what a user waits for)
  ui runs    GET /runs from a running `stager ui` (first page, default sort), over one
             kept-alive connection
  ui filter  GET /runs filtered by state and pipeline, sorted by cost, page 2

Each is the median over ``--rounds`` (the UI's over ``--requests``). Targets:
`stager runs list` at most 0.5 s, a UI runs page at most 200 ms.

    python bench/ledger.py
    python bench/ledger.py --runs 10000 --rounds 5 --requests 20 --rebuild
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench_common import stager_source_state
from runs_list import make_ledger, timed

LIST_TARGET_S = 0.5
UI_TARGET_S = 0.200
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stager-bench"
FILTERED = "/runs?status=succeeded&pipeline=pipeline-3&sort=cost&order=desc&page=2"
BASELINE_PAGE = """
SELECT r.id, r.pipeline, r.target, r.created,
  (SELECT t.state FROM transitions t WHERE t.run_id = r.id ORDER BY t.event_id DESC LIMIT 1)
FROM runs r ORDER BY r.created DESC LIMIT 100
"""


def cached_ledger(runs: int, *, rebuild: bool) -> Path:
    """A ledger of ``runs`` runs, built once into the cache (it takes a while: one fsync per record)."""
    path = CACHE / f"ledger-{runs}-runs.sqlite"
    if path.is_file() and not rebuild and _count(path) == runs:
        print(f"ledger of {runs} runs reused from {path}")
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=CACHE) as folder:
        built = Path(folder) / "ledger.sqlite"
        make_ledger(built, runs)
        _checkpoint(built)
        os.replace(built, path)  # whole or not at all: an interrupted build leaves no half ledger
    print(f"ledger of {runs} runs made in {time.perf_counter() - start:.1f} s, kept at {path}")
    return path


def _count(path: Path) -> int:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so the cached ledger is one file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def baseline_page(path: Path, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        rows = conn.execute(BASELINE_PAGE).fetchall()
        conn.close()
        times.append(time.perf_counter() - start)
        assert len(rows) == 100, len(rows)
    return statistics.median(times)


def ui_pages(path: Path, requests: int, home: Path) -> dict[str, float]:
    """Median seconds per GET of the UI's runs pages, from a real `stager ui` over one kept-alive connection."""
    env = {**os.environ, "STAGER_HOME": str(home)}
    server = subprocess.Popen([sys.executable, "-m", "stager", "ui", "--port", "0", "--ledger", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        line = server.stdout.readline() if ready else ""
        if "serving http://" not in line:
            raise SystemExit(f"stager ui did not start: {line}{server.stderr.read() if server.poll() else ''}")
        url = urlsplit(line.split("serving ", 1)[1].split()[0])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        results = {}
        for name, target in (("ui runs", "/runs"), ("ui filter", FILTERED)):
            _get(conn, target)  # the first request warms SQLite's page cache, as any page viewed twice is
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                body = _get(conn, target)
                times.append(time.perf_counter() - start)
            assert 'data-run-id="' in body, f"{target} listed no runs"
            results[name] = statistics.median(times)
        conn.close()
        return results
    finally:
        server.terminate()
        server.communicate(timeout=10)


def _get(conn: http.client.HTTPConnection, target: str) -> str:
    conn.request("GET", target)
    response = conn.getresponse()
    body = response.read().decode()
    if response.status != 200:
        raise SystemExit(f"GET {target}: {response.status}")
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="runs of `stager runs list` and of the baseline")
    parser.add_argument("--requests", type=int, default=20, help="requests per UI page")
    parser.add_argument("--rebuild", action="store_true", help="build the ledger again instead of the cached one")
    args = parser.parse_args()
    print(stager_source_state())
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {platform.platform()}")
    path = cached_ledger(args.runs, rebuild=args.rebuild)
    home = Path(tempfile.mkdtemp(prefix="stager-bench-home-"))
    try:
        baseline = baseline_page(path, args.rounds * 4)
        results = {"list": timed([sys.executable, "-m", "stager", "runs", "list", "--ledger", str(path)], args.rounds)}
        results.update(ui_pages(path, args.requests, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    targets = {"list": LIST_TARGET_S, "ui runs": UI_TARGET_S, "ui filter": UI_TARGET_S}
    print(f"{'what':<10} {'median ms':>10} {'target ms':>10} {'x baseline':>11}")
    print(f"{'baseline':<10} {baseline * 1000:>10.1f} {'':>10} {1:>11.1f}")
    for name, seconds in results.items():
        print(f"{name:<10} {seconds * 1000:>10.1f} {targets[name] * 1000:>10.0f} {seconds / baseline:>11.1f}")
    print(f"(ui filter is GET {FILTERED})")
    for name, seconds in results.items():
        verdict = "PASS" if seconds <= targets[name] else "FAIL"
        target_ms = targets[name] * 1000
        print(f"{verdict}: {name} at {args.runs} runs {seconds * 1000:.1f} ms (target <= {target_ms:.0f} ms)")


if __name__ == "__main__":
    main()
