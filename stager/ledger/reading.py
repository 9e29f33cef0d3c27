"""Reading runs back: one run in full, summaries with filters, and resources still alive.

A run's current state is never stored: it is its latest transition (the highest
event id among its transition rows, since event ids grow with each append).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from stager.errors import UsageError
from stager.ledger.backend import Connection
from stager.ledger.records import (
    ArtifactRecord,
    CostRecord,
    DatasetRecord,
    EventRecord,
    ImageRecord,
    ResourceRecord,
    RunRecord,
    RunSummary,
    Transition,
)
from stager.ledger.states import STATES, is_finished
from stager.ledger.tables import RECORD_TABLES, RUNS
from stager.ledger.timestamps import parse_time, time_text

__all__ = ["check_status", "current_state", "exact_run_id", "live_resource_row", "live_resources", "load_run",
           "load_summaries", "resolve_run_id", "resources_by_run"]

_LIST_HINT = "see `stager runs list`"
_RECORD_KINDS = {RUNS.kind, *(table.kind for table in RECORD_TABLES)}

_SUMMARY = """
SELECT r.id, r.pipeline, r.pipeline_file, r.target, r.sprint_id, r.created,
  (SELECT t.state FROM transitions t WHERE t.run_id = r.id ORDER BY t.event_id DESC LIMIT 1) AS state,
  (SELECT e.time FROM transitions t JOIN events e ON e.id = t.event_id WHERE t.run_id = r.id
     ORDER BY t.event_id DESC LIMIT 1) AS state_time,
  (SELECT c.estimated_usd FROM costs c WHERE c.run_id = r.id AND c.estimated_usd IS NOT NULL
     ORDER BY c.event_id DESC LIMIT 1) AS estimated_usd,
  (SELECT c.actual_usd FROM costs c WHERE c.run_id = r.id AND c.actual_usd IS NOT NULL
     ORDER BY c.event_id DESC LIMIT 1) AS actual_usd,
  (SELECT SUM(d.usd) FROM resource_deletions d WHERE d.run_id = r.id) AS billed_usd
FROM runs r
"""


def exact_run_id(conn: Connection, run_id: str) -> str:
    """``run_id`` itself when that run exists (writes take whole ids only).

    Raises:
        UsageError: no such run.
    """
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise UsageError(f"no run {run_id} in the ledger ({_LIST_HINT})")
    return run_id


def resolve_run_id(conn: Connection, given: str) -> str:
    """The run whose id is ``given``, or the only one that starts with it.

    Raises:
        UsageError: no run matches, or the prefix matches several.
    """
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (given,)).fetchone():
        return given
    matches = [row[0] for row in conn.execute(
        "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6", (len(given), given))]
    if not matches or not given:
        raise UsageError(f"no run {given} in the ledger ({_LIST_HINT})")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UsageError(f"run id prefix {given} matches several runs ({shown}); give more of the id")
    return matches[0]


def current_state(conn: Connection, run_id: str) -> str | None:
    row = conn.execute("SELECT state FROM transitions WHERE run_id = ? ORDER BY event_id DESC LIMIT 1",
                       (run_id,)).fetchone()
    return row[0] if row else None


def _summary(row: sqlite3.Row) -> RunSummary:
    state = row["state"] or "pending"
    actual = row["actual_usd"] if row["actual_usd"] is not None else row["billed_usd"]
    return RunSummary(
        id=row["id"], pipeline=row["pipeline"], pipeline_file=row["pipeline_file"], target=row["target"],
        sprint_id=row["sprint_id"], state=state, created=parse_time(row["created"]),
        finished=parse_time(row["state_time"]) if is_finished(state) and row["state_time"] else None,
        estimated_usd=row["estimated_usd"], actual_usd=round(actual, 4) if actual is not None else None,
    )


def check_status(status: str | None) -> None:
    """Refuse a ``--status`` that is not a state.

    Raises:
        UsageError: naming the states.
    """
    if status is not None and status not in STATES:
        raise UsageError(f"unknown state {status!r}; states are {', '.join(STATES)}")


def load_summaries(conn: Connection, *, status: str | None = None, since: datetime | None = None,
                   pipeline: str | None = None, sprint: str | None = None) -> list[RunSummary]:
    """Runs matching every filter given, newest first.

    Raises:
        UsageError: ``status`` is not a state.
    """
    check_status(status)
    clauses, params = [], []
    if since is not None:
        clauses.append("r.created >= ?")
        params.append(time_text(since))
    if pipeline is not None:
        clauses.append("r.pipeline = ?")
        params.append(pipeline)
    if sprint is not None:
        clauses.append("r.sprint_id = ?")
        params.append(sprint)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(_SUMMARY + where + " ORDER BY r.created DESC, r.id DESC", params).fetchall()
    summaries = [_summary(row) for row in rows]
    return [s for s in summaries if status is None or s.state == status]


_RESOURCES = """
SELECT r.run_id, r.kind, r.provider_id, r.label, r.plan, r.region, r.hourly_usd, r.monthly_usd,
  e.time AS created, e.seq AS created_seq, de.time AS deleted, d.billed_hours, d.usd
FROM resources r
JOIN events e ON e.id = r.event_id
LEFT JOIN resource_deletions d ON d.run_id = r.run_id AND d.created_seq = e.seq
LEFT JOIN events de ON de.id = d.event_id
"""


def _resource(row: sqlite3.Row) -> ResourceRecord:
    return ResourceRecord(
        run_id=row["run_id"], kind=row["kind"], provider_id=row["provider_id"], label=row["label"], plan=row["plan"],
        region=row["region"], hourly_usd=row["hourly_usd"], monthly_usd=row["monthly_usd"],
        created=parse_time(row["created"]), deleted=parse_time(row["deleted"]) if row["deleted"] else None,
        billed_hours=row["billed_hours"], usd=row["usd"],
    )


def live_resources(conn: Connection, run_id: str | None = None) -> list[ResourceRecord]:
    """Resources created and not (yet) recorded as deleted, oldest first."""
    where = " WHERE d.id IS NULL" + (" AND r.run_id = ?" if run_id is not None else "")
    params = (run_id,) if run_id is not None else ()
    return [_resource(row) for row in conn.execute(_RESOURCES + where + " ORDER BY r.event_id", params)]


def resources_by_run(conn: Connection) -> dict[str, list[ResourceRecord]]:
    """Every resource of every run, live or deleted, oldest first: one query for reports over all runs."""
    found: dict[str, list[ResourceRecord]] = {}
    for row in conn.execute(_RESOURCES + " ORDER BY r.event_id"):
        found.setdefault(row["run_id"], []).append(_resource(row))
    return found


def live_resource_row(conn: Connection, kind: str, provider_id: str,
                      run_id: str | None = None) -> sqlite3.Row | None:
    """The live resource ``kind``/``provider_id`` (of ``run_id``, or of any run) with its creation seq and time."""
    where = " WHERE d.id IS NULL AND r.kind = ? AND r.provider_id = ?"
    params: tuple = (kind, provider_id)
    if run_id is not None:
        where, params = where + " AND r.run_id = ?", (*params, run_id)
    return conn.execute(_RESOURCES + where + " ORDER BY r.event_id DESC LIMIT 1", params).fetchone()


def load_run(conn: Connection, run_id: str) -> RunRecord:
    """Everything recorded for the run ``run_id`` (an exact id)."""
    row = conn.execute(_SUMMARY + " WHERE r.id = ?", (run_id,)).fetchone()
    summary = _summary(row)
    content = RUNS.content(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
    record = RunRecord(**vars(summary), spec=content["spec"], versions=content["versions"], git=content["git"])

    def rows(sql: str) -> list[sqlite3.Row]:
        return conn.execute(sql, (run_id,)).fetchall()

    joined = "JOIN events e ON e.id = x.event_id WHERE x.run_id = ? ORDER BY x.event_id"
    record.transitions = [Transition(r["state"], parse_time(r["time"]), r["reason"])
                          for r in rows(f"SELECT x.state, x.reason, e.time FROM transitions x {joined}")]
    record.resources = [_resource(r) for r in rows(_RESOURCES + " WHERE r.run_id = ? ORDER BY r.event_id")]
    record.artifacts = [ArtifactRecord(r["path"], r["location"], r["size"], r["sha256"], parse_time(r["time"]))
                        for r in rows(f"SELECT x.*, e.time FROM artifacts x {joined}")]
    record.datasets = [DatasetRecord(r["name"], r["digest"], bool(r["ok"]), parse_time(r["time"]))
                       for r in rows(f"SELECT x.*, e.time FROM datasets x {joined}")]
    record.images = [ImageRecord(r["image_id"], r["recipe_hash"], parse_time(r["time"]))
                     for r in rows(f"SELECT x.*, e.time FROM images x {joined}")]
    record.costs = [CostRecord(r["estimated_usd"], r["actual_usd"], parse_time(r["time"]))
                    for r in rows(f"SELECT x.*, e.time FROM costs x {joined}")]
    events = rows("SELECT seq, time, kind, data, hash FROM events WHERE run_id = ? ORDER BY seq")
    record.events = [EventRecord(e["seq"], parse_time(e["time"]), e["kind"], json.loads(e["data"]))
                     for e in events if e["kind"] not in _RECORD_KINDS]
    record.head_hash = events[-1]["hash"] if events else None
    return record
