"""Checking one run's record: its hash chain, its typed rows against their events, its state history.

Each problem is one line naming the event's seq or the table row, so an auditor
can look at it with plain SQL. An empty list means nothing was found.
"""

from __future__ import annotations

import json
import sqlite3

from stager.ledger.backend import Connection
from stager.ledger.chain import GENESIS, canonical, event_hash
from stager.ledger.states import check_transition
from stager.ledger.tables import RECORD_TABLES, RUNS

__all__ = ["verify_run"]


def verify_run(conn: Connection, run_id: str) -> list[str]:
    """Every inconsistency found in the run's record (empty when intact)."""
    problems: list[str] = []
    events = conn.execute("SELECT id, seq, time, kind, data, prev_hash, hash FROM events WHERE run_id = ? "
                          "ORDER BY seq", (run_id,)).fetchall()
    decoded = _check_chain(events, run_id, problems)
    _check_run_row(conn, run_id, decoded, problems)
    _check_records(conn, run_id, decoded, problems)
    _check_states(decoded, problems)
    return problems


def _check_chain(events: list[sqlite3.Row], run_id: str, problems: list[str]) -> dict[int, tuple[int, str, object]]:
    """Recompute every hash; returns {event row id: (seq, kind, data)} of the events whose data parses."""
    decoded: dict[int, tuple[int, str, object]] = {}
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        seq = event["seq"]
        if seq != expected_seq:
            problems.append(f"event seq {seq}: expected seq {expected_seq} (an event is missing or was inserted)")
        if event["prev_hash"] != previous:
            problems.append(f"event seq {seq}: prev_hash does not match the hash of the event before it")
        try:
            data = json.loads(event["data"])
        except ValueError:
            problems.append(f"event seq {seq}: data is not valid JSON")
            previous = event["hash"]
            continue
        decoded[event["id"]] = (seq, event["kind"], data)
        recomputed = event_hash(event["prev_hash"], run_id=run_id, seq=seq, time=event["time"], kind=event["kind"],
                                data=data)
        if recomputed != event["hash"]:
            problems.append(f"event seq {seq} ({event['kind']}): content does not match its hash (edited)")
        previous = event["hash"]
    if not events:
        problems.append("the run has no events (its run.created event is missing)")
    return decoded


def _check_run_row(conn: Connection, run_id: str, decoded: dict, problems: list[str]) -> None:
    first = next((value for value in decoded.values() if value[0] == 1), None)
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if first is None or first[1] != RUNS.kind:
        problems.append(f"event seq 1 is not the run's {RUNS.kind} event")
        return
    if row is None:
        problems.append("the runs row is missing")
    elif canonical(RUNS.content(row)) != canonical(first[2]):
        problems.append("runs row differs from the run.created event (edited)")


def _check_records(conn: Connection, run_id: str, decoded: dict, problems: list[str]) -> None:
    for table in RECORD_TABLES:
        expected = {event_id for event_id, (_, kind, _) in decoded.items() if kind == table.kind}
        seen: set[int] = set()
        for row in conn.execute(f"SELECT * FROM {table.name} WHERE run_id = ? ORDER BY id", (run_id,)):
            event_id = row["event_id"]
            event = decoded.get(event_id)
            if event is None or event[1] != table.kind:
                problems.append(f"{table.name} row {row['id']}: no {table.kind} event of this run records it")
                continue
            seen.add(event_id)
            # Compared as canonical text: a NaN in the data is equal to itself there.
            if canonical(table.content(row)) != canonical(event[2]):
                problems.append(f"{table.name} row {row['id']}: differs from event seq {event[0]} (edited)")
        for event_id in sorted(expected - seen):
            problems.append(f"event seq {decoded[event_id][0]} ({table.kind}): its {table.name} row is missing")


def _check_states(decoded: dict, problems: list[str]) -> None:
    current: str | None = None
    for seq, kind, data in sorted(decoded.values(), key=lambda item: item[0]):
        if kind != "state" or not isinstance(data, dict):
            continue
        try:
            check_transition(current, data.get("state"))
        except ValueError as exc:
            problems.append(f"event seq {seq}: illegal transition: {exc}")
        current = data.get("state")
