"""The ledger: stager's append-only audit store of runs, in one SQLite file or a PostgreSQL database.

Every write is one transaction that takes the database's write lock first
(SQLite's ``BEGIN IMMEDIATE``, or PostgreSQL's advisory lock) and appends rows, never
changing one: a run's state is its latest transition, a resource is deleted by a
deletion row. Each run's events form a hash chain that ``verify_chain`` checks.
Several processes may write to the same file at once (a sprint runs several runs),
and several machines to the same PostgreSQL database (``STAGER_LEDGER_URL``).

One ``Ledger`` may be shared by threads (a log-streaming thread beside the main
one): its calls take turns on the one connection.

Not supported: deleting or pruning runs (the tables refuse it); use after ``close``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from stager.errors import UsageError
from stager.ids import new_id
from stager.ledger import audit, builds, checks, postgres, reading
from stager.ledger.backend import Connection, database_errors, retryable_errors
from stager.ledger.billing import billed_hours, billed_usd
from stager.ledger.chain import append_event, append_record
from stager.ledger.connection import connect, immediate
from stager.ledger.guard import check_data
from stager.ledger.location import LEDGER_FILE, ledger_url
from stager.ledger.records import ResourceRecord, RunRecord, RunSummary
from stager.ledger.schema import LEDGER_MIGRATIONS
from stager.ledger.states import check_transition
from stager.ledger.tables import (
    ARTIFACTS,
    COSTS,
    DATASETS,
    IMAGES,
    RECORD_TABLES,
    RESOURCE_DELETIONS,
    RESOURCES,
    RUNS,
    TRANSITIONS,
    RecordTable,
)
from stager.ledger.timestamps import Clock, parse_time, time_text, utc_now

__all__ = ["LEDGER_FILE", "Ledger"]

# A PostgreSQL write that lost a serialization race runs again, this many times at most.
_WRITE_ATTEMPTS = 5
# Kinds the ledger writes itself; event() refuses them so the audit can expect a typed row for each.
_RESERVED_KINDS = {RUNS.kind, *(table.kind for table in RECORD_TABLES)}


def _one_at_a_time(method: Callable) -> Callable:
    """Serialise calls from several threads: a connection holds one transaction at a time.

    A call whose transaction the database rolled back as a lost race (PostgreSQL's
    serialization failures and deadlocks) runs again: it wrote nothing the first time.
    """

    @functools.wraps(method)
    def call(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            retryable = retryable_errors(self._conn)
            for attempt in range(1, _WRITE_ATTEMPTS + 1):
                try:
                    return method(self, *args, **kwargs)
                except retryable:
                    if attempt == _WRITE_ATTEMPTS:
                        raise
                    time.sleep(0.01 * 2**attempt)

    return call


class Ledger:
    """One open ledger. Use ``Ledger.open()``, ideally as a context manager."""

    def __init__(self, conn: Connection, path: Path, clock: Clock = utc_now) -> None:
        self._conn = conn
        self.path = path
        # How messages name this ledger: the file, or the database URL with its password masked.
        self.where = getattr(conn, "where", None) or str(path)
        self._clock = clock  # replaceable so tests can stage a 61-minute instance in no time
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path | None = None, *, clock: Clock | None = None) -> Ledger:
        """Open the ledger at ``path`` (default ``$STAGER_HOME/ledger.sqlite``), creating or upgrading it.

        With ``STAGER_LEDGER_URL`` set, the default ledger is that PostgreSQL database instead
        (see ``location.py``); a ``path`` other than the default still opens that file.

        Raises:
            UsageError: the file or database was written by a newer stager, is not a ledger, or
                cannot be reached (a database URL is named with its password masked).
        """
        from stager.home import stager_home

        url = ledger_url(path)
        path = Path(path) if path is not None else stager_home() / LEDGER_FILE
        if url is not None:
            return cls._open_postgres(url, path, clock or utc_now)
        try:
            conn = connect(path)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise UsageError(f"{path}: cannot open the ledger ({exc})") from exc
        try:
            LEDGER_MIGRATIONS.apply(conn, where=str(path))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise UsageError(f"{path}: not a stager ledger ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, clock or utc_now)

    @classmethod
    def _open_postgres(cls, url: str, path: Path, clock: Clock) -> Ledger:
        conn = postgres.connect(url)
        try:
            for attempt in range(1, _WRITE_ATTEMPTS + 1):
                try:
                    LEDGER_MIGRATIONS.apply(conn, where=conn.where)
                    break
                except retryable_errors(conn):
                    if attempt == _WRITE_ATTEMPTS:
                        raise
        except database_errors(conn) as exc:
            conn.close()
            raise UsageError(f"{conn.where}: not a stager ledger, or cannot be upgraded ({conn.describe(exc)})") \
                from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, clock)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return time_text(self._clock())

    # --- runs and their states ------------------------------------------------------------------

    @_one_at_a_time
    def create_run(self, *, pipeline: str, pipeline_file: str, target: str, spec: dict, versions: dict,
                   git: dict | None, run_id: str | None = None, sprint_id: str | None = None) -> str:
        """Record a new run in state ``pending``; returns its id (``new_id("r")`` unless given).

        ``spec`` is the resolved pipeline with secrets already redacted; ``versions`` names
        stager, torch and python; ``git`` is ``{"commit": ..., "dirty": ...}`` or None.

        Raises:
            ValueError: a bad field, a value that looks secret, or a run id already used.
        """
        run_id = checks.run_id(run_id if run_id is not None else new_id("r"))
        for name, value in (("pipeline", pipeline), ("pipeline_file", pipeline_file), ("target", target)):
            checks.text(value, name)
        checks.text(sprint_id, "sprint_id", optional=True)
        if not isinstance(spec, dict) or not isinstance(versions, dict) or not isinstance(git, (dict, type(None))):
            raise ValueError("spec and versions must be dicts, git a dict or None")
        for name, value in (("spec", spec), ("versions", versions), ("git", git)):
            check_data(value, name)
        git_dirty = git.get("dirty") if git else None
        if git_dirty is not None and not isinstance(git_dirty, bool):
            raise ValueError(f"git.dirty: expected true or false, got {git_dirty!r}")
        now = self._now()
        content = {"pipeline": pipeline, "pipeline_file": pipeline_file, "target": target, "created": now,
                   "spec": spec, "versions": versions, "git": git, "git_commit": git.get("commit") if git else None,
                   "git_dirty": git_dirty, "sprint_id": sprint_id}
        with immediate(self._conn) as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise ValueError(f"run {run_id} already exists in the ledger")
            conn.execute(f"INSERT INTO runs (id, {', '.join(RUNS.columns)}) VALUES (?{', ?' * len(RUNS.columns)})",
                         (run_id, *RUNS.values(content)))
            append_event(conn, run_id, RUNS.kind, content, now)
            append_record(conn, TRANSITIONS, run_id, {"state": "pending", "reason": None}, now)
        return run_id

    @_one_at_a_time
    def transition(self, run_id: str, state: str, *, reason: str | None = None) -> None:
        """Move the run to ``state`` (see ``states.py`` for the legal moves).

        Raises:
            UsageError: no such run.
            ValueError: the move is not allowed, or the reason is not plain text.
        """
        checks.text(reason, "reason", optional=True)
        check_data(reason, "reason")
        with immediate(self._conn) as conn:
            reading.exact_run_id(conn, run_id)
            check_transition(reading.current_state(conn, run_id), state)
            append_record(conn, TRANSITIONS, run_id, {"state": state, "reason": reason}, self._now())

    def resume(self, run_id: str, *, reason: str | None = None) -> None:
        """Reopen a failed or aborted run (``stager run --resume``); the same as ``transition(run_id, "resumed")``."""
        self.transition(run_id, "resumed", reason=reason)

    @_one_at_a_time
    def state(self, run_id: str) -> str:
        """The run's current state: its latest transition.

        Raises:
            UsageError: no such run.
        """
        reading.exact_run_id(self._conn, run_id)
        return reading.current_state(self._conn, run_id) or "pending"

    @_one_at_a_time
    def event(self, run_id: str, kind: str, data: dict | None = None) -> None:
        """Append a free-form event, e.g. ``event(id, "train.epoch", {"epoch": 3, "val_loss": 0.2})``.

        Raises:
            UsageError: no such run.
            ValueError: a bad or reserved kind, data that is not plain JSON or that looks secret.
        """
        checks.event_kind(kind)
        if kind in _RESERVED_KINDS:
            raise ValueError(f"event kind {kind!r} is written by the ledger itself; use its own method")
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ValueError(f"event data must be a dict, got {type(data).__name__}")
        check_data(data, kind)
        self._append(run_id, lambda conn, now: append_event(conn, run_id, kind, data, now))

    # --- records --------------------------------------------------------------------------------

    @_one_at_a_time
    def resource_created(self, run_id: str, *, kind: str, provider_id: str | int, label: str,
                         plan: str | None = None, region: str | None = None, hourly_usd: float | None = None,
                         monthly_usd: float | None = None) -> None:
        """Record a cloud resource the run created (so teardown and ``stager gc`` can find it).

        Raises:
            UsageError: no such run.
            ValueError: a bad field, or the same kind and provider id is already live in the ledger.
        """
        content = {"kind": checks.resource_kind(kind), "provider_id": checks.text(str(provider_id), "provider_id"),
                   "label": checks.text(label, "label"), "plan": checks.text(plan, "plan", optional=True),
                   "region": checks.text(region, "region", optional=True),
                   "hourly_usd": checks.amount(hourly_usd, "hourly_usd"),
                   "monthly_usd": checks.amount(monthly_usd, "monthly_usd")}

        def write(conn: Connection, now: str) -> None:
            live = reading.live_resource_row(conn, kind, content["provider_id"])
            if live is not None:
                raise ValueError(f"{kind} {provider_id} is already recorded as live (run {live['run_id']})")
            append_record(conn, RESOURCES, run_id, content, now)

        self._append(run_id, write)

    @_one_at_a_time
    def resource_deleted(self, run_id: str, *, kind: str, provider_id: str | int) -> None:
        """Record the deletion of a live resource of the run, with its billed hours and dollars.

        Billed hours are whole started hours since it was recorded as created (61 minutes
        bill 2 hours); dollars are those hours at its ``hourly_usd``, capped at ``monthly_usd``.

        Raises:
            UsageError: no such run.
            ValueError: the run has no live resource of that kind and id.
        """
        checks.resource_kind(kind)
        provider_id = str(provider_id)

        def write(conn: Connection, now: str) -> None:
            row = reading.live_resource_row(conn, kind, provider_id, run_id)
            if row is None:
                raise ValueError(f"run {run_id} has no live {kind} {provider_id} to delete")
            hours = billed_hours(parse_time(row["created"]), parse_time(now))
            append_record(conn, RESOURCE_DELETIONS, run_id, {
                "kind": kind, "provider_id": provider_id, "created_seq": row["created_seq"], "billed_hours": hours,
                "usd": billed_usd(hours, row["hourly_usd"], row["monthly_usd"])}, now)

        self._append(run_id, write)

    @_one_at_a_time
    def live_resources(self, run_id: str | None = None) -> list[ResourceRecord]:
        """Resources created and not deleted, of one run or of all runs (for teardown and ``stager gc``)."""
        return reading.live_resources(self._conn, run_id)

    @_one_at_a_time
    def resources_by_run(self) -> dict[str, list[ResourceRecord]]:
        """Every run's resources, live or deleted, by run id (runs without any are absent)."""
        return reading.resources_by_run(self._conn)

    @_one_at_a_time
    def artifact(self, run_id: str, *, path: str, location: str, size: int, sha256: str) -> None:
        """Record a file the run produced (a checkpoint, a log, the report), verified by its sha256.

        Raises:
            UsageError: no such run.
            ValueError: a path outside the run's folder, a bad size or digest.
        """
        self._record(run_id, ARTIFACTS, {
            "path": checks.relative_path(path, "path"), "location": checks.text(location, "location"),
            "size": checks.size(size, "size"), "sha256": checks.digest(sha256, "sha256")})

    @_one_at_a_time
    def dataset(self, run_id: str, *, name: str, digest: str, ok: bool) -> None:
        """Record a dataset the run used: its manifest digest and whether validation passed.

        Raises:
            UsageError: no such run.
            ValueError: a bad field.
        """
        if not isinstance(ok, bool):
            raise ValueError(f"ok: expected true or false, got {ok!r}")
        self._record(run_id, DATASETS, {"name": checks.text(name, "name"), "digest": checks.digest(digest, "digest"),
                                        "ok": ok})

    @_one_at_a_time
    def image(self, run_id: str, *, image_id: str, recipe_hash: str) -> None:
        """Record the gold image the run's instances booted from.

        Raises:
            UsageError: no such run.
            ValueError: a bad field.
        """
        self._record(run_id, IMAGES, {"image_id": checks.text(image_id, "image_id"),
                                      "recipe_hash": checks.digest(recipe_hash, "recipe_hash", shortest=12)})

    @_one_at_a_time
    def cost(self, run_id: str, *, estimated_usd: float | None = None, actual_usd: float | None = None) -> None:
        """Record an estimate and/or the actual cost; the latest of each counts.

        Raises:
            UsageError: no such run.
            ValueError: neither amount given, or one is negative or not finite.
        """
        content = {"estimated_usd": checks.amount(estimated_usd, "estimated_usd"),
                   "actual_usd": checks.amount(actual_usd, "actual_usd")}
        if content["estimated_usd"] is None and content["actual_usd"] is None:
            raise ValueError("cost: give estimated_usd, actual_usd or both")
        self._record(run_id, COSTS, content)

    def _record(self, run_id: str, table: RecordTable, content: dict) -> None:
        self._append(run_id, lambda conn, now: append_record(conn, table, run_id, content, now))

    def _append(self, run_id: str, write: Callable[[Connection, str], object]) -> None:
        with immediate(self._conn) as conn:
            reading.exact_run_id(conn, run_id)
            write(conn, self._now())

    # --- reading --------------------------------------------------------------------------------

    @_one_at_a_time
    def run(self, run_id: str) -> RunRecord:
        """Everything recorded for one run; ``run_id`` may be a unique prefix of the id.

        Raises:
            UsageError: no run matches, or the prefix matches several.
        """
        return reading.load_run(self._conn, reading.resolve_run_id(self._conn, run_id))

    @_one_at_a_time
    def runs(self, *, status: str | None = None, since: datetime | None = None, pipeline: str | None = None,
             sprint: str | None = None) -> list[RunSummary]:
        """Runs matching every filter given, newest first. A naive ``since`` is taken as UTC.

        Raises:
            UsageError: ``status`` is not a state.
        """
        return reading.load_summaries(self._conn, status=status, since=since, pipeline=pipeline, sprint=sprint)

    @_one_at_a_time
    def adopt_builds(self, records: Iterable[Any]) -> int:
        """Import finished image build records (``BuildRecord``), keyed by build id; returns how many were new.

        Raises:
            ValueError: a record holds something that is not plain JSON or looks secret.
        """
        return builds.adopt(self._conn, records, self._now())

    @_one_at_a_time
    def builds(self, image_id: str | None = None) -> list[dict]:
        """Adopted build records (as dicts), of one image or all, oldest first."""
        return builds.adopted_builds(self._conn, image_id)

    @_one_at_a_time
    def chain_length(self, run_id: str) -> int:
        """How many events the run ``run_id`` (an exact id) has in its chain; 0 for an unknown run."""
        return int(self._conn.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0])

    @_one_at_a_time
    def chain_extract(self, run_id: str) -> dict:
        """The run's row and its events exactly as chained, for an export an auditor re-hashes elsewhere.

        ``{"run": {"id", ...the run.created content}, "events": [{"seq", "time", "kind", "data",
        "prev_hash", "hash"}, ...], "head_hash": ...}``; ``run_id`` is an exact id.

        Raises:
            UsageError: no such run.
        """
        reading.exact_run_id(self._conn, run_id)
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        events = self._conn.execute("SELECT seq, time, kind, data, prev_hash, hash FROM events WHERE run_id = ? "
                                    "ORDER BY seq", (run_id,)).fetchall()
        chained = [{"seq": e["seq"], "time": e["time"], "kind": e["kind"], "data": json.loads(e["data"]),
                    "prev_hash": e["prev_hash"], "hash": e["hash"]} for e in events]
        return {"run": {"id": run_id, **RUNS.content(row)}, "events": chained,
                "head_hash": chained[-1]["hash"] if chained else None}

    @_one_at_a_time
    def verify_chain(self, run_id: str) -> list[str]:
        """Problems found in the run's record: hash chain, rows against events, state history; empty when intact.

        Raises:
            UsageError: no run matches ``run_id`` (a unique prefix is accepted).
        """
        return audit.verify_run(self._conn, reading.resolve_run_id(self._conn, run_id))
