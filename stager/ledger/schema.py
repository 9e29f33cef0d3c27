"""The ledger's schema, as numbered migrations. Add a new one at the end; never edit an applied one.

Each step runs inside the transaction that records it (see ``migrations.py``), so
it uses single ``execute`` calls: ``executescript`` would commit half-way.

The DDL is written for SQLite; ``backend.ddl`` gives PostgreSQL the same tables
with its own types. Only the append-only triggers are written twice, because the
two databases spell triggers differently.
"""

from __future__ import annotations

from stager.ledger.backend import Connection, ddl, is_postgres
from stager.ledger.migrations import Migrations

__all__ = ["LEDGER_MIGRATIONS"]

LEDGER_MIGRATIONS = Migrations("ledger")


def _run_all(conn: Connection, *statements: str) -> None:
    for statement in statements:
        conn.execute(ddl(conn, statement))


def _record_table(name: str, columns: str) -> str:
    """A typed table whose rows each point at the event that recorded them."""
    return (f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id), "
            f"event_id INTEGER NOT NULL UNIQUE REFERENCES events(id), {columns})")


@LEDGER_MIGRATIONS(1, "create_runs_and_events")
def _create_runs_and_events(conn: Connection) -> None:
    _run_all(
        conn,
        # spec: the resolved pipeline, secrets redacted; versions: {"stager", "torch", "python", ...};
        # git: the user's project {"commit", "dirty", ...} or NULL outside a checkout.
        "CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, pipeline_file TEXT NOT NULL, "
        "target TEXT NOT NULL, created TEXT NOT NULL, spec TEXT NOT NULL, versions TEXT NOT NULL, git TEXT, "
        "git_commit TEXT, git_dirty INTEGER, sprint_id TEXT)",
        "CREATE INDEX runs_by_created ON runs (created)",
        "CREATE INDEX runs_by_sprint ON runs (sprint_id)",
        # One hash chain per run: seq 1, 2, 3, ...; hash = sha256(prev_hash, canonical content).
        "CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id), "
        "seq INTEGER NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, "
        "prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (run_id, seq))",
    )


@LEDGER_MIGRATIONS(2, "create_transitions")
def _create_transitions(conn: Connection) -> None:
    _run_all(
        conn,
        _record_table("transitions", "state TEXT NOT NULL, reason TEXT"),
        "CREATE INDEX transitions_by_run ON transitions (run_id, event_id)",
    )


@LEDGER_MIGRATIONS(3, "create_resources")
def _create_resources(conn: Connection) -> None:
    _run_all(
        conn,
        _record_table("resources", "kind TEXT NOT NULL, provider_id TEXT NOT NULL, label TEXT NOT NULL, plan TEXT, "
                      "region TEXT, hourly_usd REAL, monthly_usd REAL"),
        "CREATE INDEX resources_by_run ON resources (run_id)",
        "CREATE INDEX resources_by_provider_id ON resources (kind, provider_id)",
        # A resource's life ends in at most one deletion row, hence the unique pair.
        _record_table("resource_deletions", "kind TEXT NOT NULL, provider_id TEXT NOT NULL, "
                      "created_seq INTEGER NOT NULL, billed_hours INTEGER NOT NULL, usd REAL, "
                      "UNIQUE (run_id, created_seq)"),
    )


@LEDGER_MIGRATIONS(4, "create_artifacts_datasets_images")
def _create_artifacts_datasets_images(conn: Connection) -> None:
    _run_all(
        conn,
        _record_table("artifacts", "path TEXT NOT NULL, location TEXT NOT NULL, size INTEGER NOT NULL, "
                      "sha256 TEXT NOT NULL"),
        "CREATE INDEX artifacts_by_run ON artifacts (run_id)",
        _record_table("datasets", "name TEXT NOT NULL, digest TEXT NOT NULL, ok INTEGER NOT NULL"),
        "CREATE INDEX datasets_by_run ON datasets (run_id)",
        "CREATE INDEX datasets_by_digest ON datasets (digest)",
        _record_table("images", "image_id TEXT NOT NULL, recipe_hash TEXT NOT NULL"),
        "CREATE INDEX images_by_run ON images (run_id)",
    )


@LEDGER_MIGRATIONS(5, "create_costs")
def _create_costs(conn: Connection) -> None:
    _run_all(
        conn,
        _record_table("costs", "estimated_usd REAL, actual_usd REAL"),
        "CREATE INDEX costs_by_run ON costs (run_id, event_id)",
    )


@LEDGER_MIGRATIONS(6, "create_image_builds")
def _create_image_builds(conn: Connection) -> None:
    # Gold-image builds are not runs: they are kept whole (record: the build's JSON) and
    # keyed by build id, so adopting the same build twice is a no-op.
    _run_all(conn, "CREATE TABLE image_builds (build_id TEXT PRIMARY KEY, recipe_hash TEXT NOT NULL, image_id TEXT, "
             "status TEXT NOT NULL, target TEXT NOT NULL, started TEXT NOT NULL, estimated_usd REAL, "
             "record TEXT NOT NULL, adopted TEXT NOT NULL)")


_APPEND_ONLY_TABLES = ("runs", "events", "transitions", "resources", "resource_deletions", "artifacts", "datasets",
                       "images", "costs", "image_builds")


_APPEND_ONLY_MESSAGE = "the stager ledger is append-only: {table} rows are never changed"


@LEDGER_MIGRATIONS(7, "forbid_updates_and_deletes")
def _forbid_updates_and_deletes(conn: Connection) -> None:
    # The database itself refuses edits, so a slip in code cannot rewrite history;
    # a deliberate edit (dropping the trigger) is what verify_chain is for.
    if is_postgres(conn):
        _forbid_in_postgres(conn)
        return
    for table in _APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            conn.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                         f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE.format(table=table)}'); END")


def _forbid_in_postgres(conn: Connection) -> None:
    """The same triggers in PL/pgSQL; TRUNCATE too, which bypasses row triggers there."""
    message = _APPEND_ONLY_MESSAGE.format(table="%")
    conn.execute("CREATE FUNCTION stager_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                 f"BEGIN RAISE EXCEPTION '{message}', TG_TABLE_NAME; END $$")
    for table in _APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            conn.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                         "FOR EACH ROW EXECUTE FUNCTION stager_ledger_append_only()")
        conn.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                     "FOR EACH STATEMENT EXECUTE FUNCTION stager_ledger_append_only()")
