"""Each run's events form a hash chain: editing, removing or inserting a row breaks it.

``hash = sha256(prev_hash + canonical({run, seq, time, kind, data}))`` where the
first event's ``prev_hash`` is 64 zeros and ``canonical`` is JSON with sorted keys
and no spaces. ``seq`` numbers a run's events 1, 2, 3, ... with no gaps.

Not detected by the chain alone: removing the newest events of a run (the
shortened chain is still valid). Keeping a copy of a run's final hash elsewhere
(the run's report prints it) closes that gap.
"""

from __future__ import annotations

import hashlib
import json

from stager.ledger.backend import Connection, insert_returning_id
from stager.ledger.tables import RecordTable

__all__ = ["GENESIS", "append_event", "append_record", "canonical", "event_hash"]

GENESIS = "0" * 64


def canonical(value: object) -> str:
    """The one JSON text of ``value`` that is hashed: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, *, run_id: str, seq: int, time: str, kind: str, data: object) -> str:
    body = canonical({"run": run_id, "seq": seq, "time": time, "kind": kind, "data": data})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append_event(conn: Connection, run_id: str, kind: str, data: object, time: str) -> int:
    """Add one event at the head of the run's chain; returns its row id.

    Must run inside an ``immediate`` transaction: the head read here stays the head
    until the commit only because this connection holds the write lock.
    """
    head = conn.execute("SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                        (run_id,)).fetchone()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    digest = event_hash(prev_hash, run_id=run_id, seq=seq, time=time, kind=kind, data=data)
    return insert_returning_id(conn, "INSERT INTO events (run_id, seq, time, kind, data, prev_hash, hash) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, seq, time, kind, canonical(data), prev_hash,
                                                                digest))


def append_record(conn: Connection, table: RecordTable, run_id: str, content: dict, time: str) -> int:
    """Record ``content`` as an event and as a row of ``table``; returns the event's row id."""
    event_id = append_event(conn, run_id, table.kind, content, time)
    columns = ", ".join(table.columns)
    marks = ", ".join("?" for _ in table.columns)
    conn.execute(f"INSERT INTO {table.name} (run_id, event_id, {columns}) VALUES (?, ?, {marks})",
                 (run_id, event_id, *table.values(content)))
    return event_id
