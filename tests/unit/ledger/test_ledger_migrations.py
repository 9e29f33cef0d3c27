"""Schema migrations: a fresh ledger, an upgrade from an older schema, a newer one refused."""

from __future__ import annotations

import sqlite3

import pytest

from stager.errors import UsageError
from stager.ledger import Ledger
from stager.ledger.chain import append_event, append_record
from stager.ledger.connection import connect, immediate
from stager.ledger.migrations import Migrations
from stager.ledger.schema import LEDGER_MIGRATIONS
from stager.ledger.tables import RUNS, TRANSITIONS


def _applied(path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return [(n, name) for n, name, _ in conn.execute("SELECT number, name, applied FROM migrations ORDER BY 1")]


def test_fresh_ledger_records_every_migration_and_uses_wal(ledger, ledger_path):
    expected = [(m.number, m.name) for m in LEDGER_MIGRATIONS.all]
    assert _applied(ledger_path) == expected
    assert [n for n, _ in expected] == list(range(1, LEDGER_MIGRATIONS.latest + 1))
    with sqlite3.connect(ledger_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        times = [row[0] for row in conn.execute("SELECT applied FROM migrations")]
    assert all(t.endswith("+00:00") for t in times)


def test_reopening_applies_nothing(ledger, ledger_path):
    ledger.close()
    conn = connect(ledger_path)
    try:
        assert LEDGER_MIGRATIONS.apply(conn) == []
    finally:
        conn.close()


def test_default_path_is_under_stager_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGER_HOME", str(tmp_path / "home"))
    with Ledger.open() as opened:
        assert opened.path == tmp_path / "home" / "ledger.sqlite"
    assert (tmp_path / "home" / "ledger.sqlite").is_file()


def test_older_ledger_is_upgraded_and_keeps_its_runs(ledger_path):
    # A ledger written when the schema stopped at migration 2 (runs, events, transitions).
    conn = connect(ledger_path)
    LEDGER_MIGRATIONS.apply(conn, up_to=2)
    now = "2026-01-01T00:00:00.000000+00:00"
    content = {"pipeline": "old", "pipeline_file": "old.yaml", "target": "local", "created": now, "spec": {},
               "versions": {"stager": "0.0.9"}, "git": None, "git_commit": None, "git_dirty": None,
               "sprint_id": None}
    with immediate(conn):
        conn.execute(f"INSERT INTO runs (id, {', '.join(RUNS.columns)}) VALUES (?{', ?' * len(RUNS.columns)})",
                     ("r-old", *RUNS.values(content)))
        append_event(conn, "r-old", RUNS.kind, content, now)
        append_record(conn, TRANSITIONS, "r-old", {"state": "pending", "reason": None}, now)
    conn.close()
    assert [n for n, _ in _applied(ledger_path)] == [1, 2]

    with Ledger.open(ledger_path) as upgraded:
        assert [n for n, _ in _applied(ledger_path)] == list(range(1, LEDGER_MIGRATIONS.latest + 1))
        upgraded.resource_created("r-old", kind="instance", provider_id=7, label="old-1", hourly_usd=0.5)
        upgraded.cost("r-old", estimated_usd=1.0)
        record = upgraded.run("r-old")
        assert record.pipeline == "old" and record.state == "pending"
        assert record.resources[0].provider_id == "7" and record.estimated_usd == 1.0
        assert upgraded.verify_chain("r-old") == []


def test_newer_ledger_is_refused(ledger, ledger_path):
    ledger.close()
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("INSERT INTO migrations (number, name, applied) VALUES (?, 'from_a_later_stager', ?)",
                     (LEDGER_MIGRATIONS.latest + 1, "2030-01-01T00:00:00+00:00"))
    with pytest.raises(UsageError, match=r"newer than this stager knows .*upgrade stager"):
        Ledger.open(ledger_path)


def test_a_failing_migration_leaves_nothing_behind(tmp_path):
    steps = Migrations("test")

    @steps(1, "create_a")
    def _(conn):
        conn.execute("CREATE TABLE a (x)")

    @steps(2, "create_b_then_fail")
    def _(conn):
        conn.execute("CREATE TABLE b (x)")
        raise RuntimeError("disk on fire")

    conn = connect(tmp_path / "t.sqlite")
    with pytest.raises(RuntimeError):
        steps.apply(conn)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "a" in tables and "b" not in tables
    assert [m.number for m in steps.applied(conn)] == [1]
    conn.close()


def test_migrations_must_be_numbered_in_order():
    steps = Migrations("test")
    with pytest.raises(ValueError, match="next number is 1"):
        steps(2, "skips_one")(lambda conn: None)


def test_tables_refuse_updates_and_deletes(ledger, ledger_path, make_run):
    make_run()
    with sqlite3.connect(ledger_path) as conn:
        for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM transitions", "UPDATE runs SET target = 'x'"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)


def test_a_file_that_is_not_a_ledger_is_a_usage_error(tmp_path):
    junk = tmp_path / "ledger.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="ledger"):
        Ledger.open(junk)


def test_a_path_that_cannot_hold_a_ledger_is_a_usage_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot open the ledger"):
        Ledger.open(blocker / "ledger.sqlite")
