"""One of several writer processes: open the PostgreSQL ledger and append events to two runs, interleaved.

Usage: python pg_ledger_writer.py SHARED_RUN OWN_RUN COUNT. The shared run is created
by whichever writer gets there first (the others find it already recorded); the
ledger comes from STAGER_LEDGER_URL, as for every stager command.
"""

from __future__ import annotations

import sys

from stager.ledger import Ledger

RUN_FIELDS = {"pipeline": "concurrency", "pipeline_file": "pipelines/c.yaml", "target": "local", "spec": {},
              "versions": {"stager": "0.1.0"}, "git": None}


def main(shared: str, own: str, count: int) -> None:
    with Ledger.open() as ledger:
        try:
            ledger.create_run(run_id=shared, **RUN_FIELDS)
        except ValueError as exc:
            if "already exists" not in str(exc):
                raise
        ledger.create_run(run_id=own, **RUN_FIELDS)
        for index in range(count):
            ledger.event(shared, "test.tick", {"writer": own, "index": index})
            ledger.event(own, "test.tick", {"writer": own, "index": index})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
