"""The ledger in a real PostgreSQL server behaves as the SQLite one, also under concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from stager.errors import UsageError
from stager.ledger import Ledger
from stager.ledger.location import redact_secrets_in, redact_url
from stager.ledger.schema import LEDGER_MIGRATIONS

HERE = Path(__file__).parent
START = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
DIGEST = "ab" * 32


class SteppingClock:
    """Moves one second per reading, so both backends see the very same times."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Build:
    build_id: str
    recipe_hash: str
    target: str
    started: str
    status: str = "succeeded"
    image_id: str | None = "private/42"
    estimated_usd: float | None = 0.25


def _record_a_run(ledger: Ledger) -> str:
    """Every kind of record, with a resource billed across an hour boundary."""
    run_id = ledger.create_run(run_id="r20261121-120000-abcd", pipeline="mnist-mlp", pipeline_file="p/mnist.yaml",
                               target="linode", spec={"compute": {"nodes": 1}, "lr": 0.001},
                               versions={"stager": "0.1.0", "python": "3.11.7"}, git={"commit": "0123", "dirty": True},
                               sprint_id="s1")
    ledger.transition(run_id, "validating")
    ledger.dataset(run_id, name="mnist", digest=DIGEST, ok=True)
    ledger.cost(run_id, estimated_usd=1.5)
    ledger.transition(run_id, "provisioning")
    ledger.resource_created(run_id, kind="instance", provider_id=1234, label="stager-0", plan="g1-gpu-rtx6000-1",
                            region="us-east", hourly_usd=1.5, monthly_usd=1000)
    ledger.image(run_id, image_id="private/42", recipe_hash=DIGEST)
    ledger.transition(run_id, "training")
    ledger.event(run_id, "train.epoch", {"epoch": 1, "val_loss": float("nan"), "note": "ünïcode"})
    ledger.artifact(run_id, path="checkpoints/last.ckpt", location="runs/x/last.ckpt", size=5 * 2**30, sha256=DIGEST)
    ledger.transition(run_id, "tearing_down")
    ledger.resource_deleted(run_id, kind="instance", provider_id=1234)
    ledger.cost(run_id, actual_usd=3.0)
    ledger.transition(run_id, "succeeded")
    assert ledger.adopt_builds([Build("b1", DIGEST, "linode", "2026-11-21T11:00:00+00:00")]) == 1
    assert ledger.adopt_builds([Build("b1", DIGEST, "linode", "2026-11-21T11:00:00+00:00")]) == 0
    return run_id


def test_every_record_reads_back_as_from_sqlite_with_the_same_hashes(pg_url, tmp_path):
    with Ledger.open(tmp_path / "ledger.sqlite", clock=SteppingClock()) as sqlite_ledger:
        expected = sqlite_ledger.run(_record_a_run(sqlite_ledger))
        expected_builds = sqlite_ledger.builds()
    with Ledger.open(clock=SteppingClock()) as ledger:
        run_id = _record_a_run(ledger)
        record = ledger.run(run_id[:12])
        assert ledger.verify_chain(run_id) == []
        assert ledger.state(run_id) == "succeeded"
        assert ledger.live_resources() == []
        assert [s.id for s in ledger.runs(status="succeeded", pipeline="mnist-mlp")] == [run_id]
        assert ledger.runs(since=START + timedelta(days=1)) == []
        assert ledger.builds() == expected_builds
        assert "***" in ledger.where and "s3cret" not in ledger.where
        extract = ledger.chain_extract(run_id)
        assert ledger.chain_length(run_id) == len(extract["events"]) == 15
    assert record.to_json() == expected.to_json()
    assert record.head_hash == expected.head_hash == extract["head_hash"]
    assert record.resources[0].billed_hours == 1 and record.artifacts[0].size == 5 * 2**30
    assert not (tmp_path / "home" / "ledger.sqlite").exists()


def test_refused_writes_leave_nothing_behind(pg_url):
    with Ledger.open() as ledger:
        run_id = ledger.create_run(pipeline="p", pipeline_file="p.yaml", target="local", spec={}, versions={},
                                   git=None)
        with pytest.raises(ValueError, match="already exists"):
            ledger.create_run(run_id=run_id, pipeline="p", pipeline_file="p.yaml", target="local", spec={},
                              versions={}, git=None)
        with pytest.raises(ValueError):
            ledger.transition(run_id, "succeeded")  # not from pending
        with pytest.raises(UsageError, match="no run"):
            ledger.event("r-missing", "train.epoch", {})
        ledger.resource_created(run_id, kind="instance", provider_id=7, label="x")
        with pytest.raises(ValueError, match="already recorded as live"):
            ledger.resource_created(run_id, kind="instance", provider_id=7, label="x")
        assert [e.seq for e in ledger.run(run_id).events] == []
        assert ledger.verify_chain(run_id) == []


@pytest.mark.parametrize("statement", ["UPDATE events SET kind = 'edited'", "DELETE FROM runs",
                                       "TRUNCATE costs", "UPDATE migrations SET name = name"])
def test_the_database_refuses_to_change_history(pg_url, statement):
    with Ledger.open() as ledger:
        ledger.create_run(pipeline="p", pipeline_file="p.yaml", target="local", spec={}, versions={}, git=None)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if statement.startswith("UPDATE migrations"):  # the bookkeeping table is not append-only: it only grows
            conn.execute(statement)
            return
        with pytest.raises(psycopg.errors.RaiseException, match="the stager ledger is append-only"):
            conn.execute(statement)


def test_migrations_are_applied_once(pg_url):
    with Ledger.open():
        pass
    with Ledger.open():
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute("SELECT number, name FROM migrations ORDER BY number").fetchall()
        identity = conn.execute("SELECT is_identity, data_type FROM information_schema.columns "
                                "WHERE table_name = 'events' AND column_name = 'id'").fetchone()
        usd_type = conn.execute("SELECT data_type FROM information_schema.columns "
                                "WHERE table_name = 'resources' AND column_name = 'hourly_usd'").fetchone()
    assert rows == [(m.number, m.name) for m in LEDGER_MIGRATIONS.all]
    assert identity == ("YES", "bigint") and usd_type == ("double precision",)


def test_a_newer_schema_is_refused(pg_url):
    with Ledger.open():
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO migrations VALUES (99, 'from_the_future', '2030-01-01T00:00:00+00:00')")
    with pytest.raises(UsageError, match="schema 99 .*upgrade stager") as caught:
        Ledger.open()
    assert "s3cret" not in str(caught.value)


def test_concurrent_writers_keep_every_chain_gapless(pg_url, tmp_path):
    writers, count = 4, 50
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    shared = "r-shared"
    # The database is new: the writers also race to apply the migrations and to create the shared run.
    processes = [subprocess.Popen([sys.executable, str(HERE / "pg_ledger_writer.py"), shared, f"r-own-{n}",
                                   str(count)], env=env, stderr=subprocess.PIPE, text=True)
                 for n in range(writers)]
    failures = [p.stderr.read() for p in processes if p.wait(timeout=120) != 0]
    assert failures == []
    with Ledger.open() as ledger:
        runs = {summary.id for summary in ledger.runs()}
        assert runs == {shared, *(f"r-own-{n}" for n in range(writers))}
        for run_id in sorted(runs):
            assert ledger.verify_chain(run_id) == [], run_id
    with psycopg.connect(pg_url, autocommit=True) as conn:
        seqs = {run_id: [row[0] for row in conn.execute(
            "SELECT seq FROM events WHERE run_id = %s ORDER BY id", (run_id,))] for run_id in runs}
        applied = conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0]
    # run.created and the pending state, then the ticks: 1..N in the order they were written.
    assert seqs[shared] == list(range(1, 2 + writers * count + 1))
    for n in range(writers):
        assert seqs[f"r-own-{n}"] == list(range(1, 2 + count + 1))
    assert applied == LEDGER_MIGRATIONS.latest


def _stager(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stager", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_cli_reads_the_shared_ledger(pg_url, tmp_path):
    with Ledger.open() as ledger:
        run_id = _record_a_run(ledger)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    listed = _stager("runs", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [run["id"] for run in json.loads(listed.stdout)] == [run_id]
    shown = _stager("runs", "show", run_id[:14], "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["chain_problems"] == [] and data["state"] == "succeeded" and data["actual_usd"] == 3.0
    report = _stager("cost", "report", "--json", env=env)
    assert report.returncode == 0, report.stderr
    verified = _stager("runs", "verify", run_id, "--json", "--runs-dir", str(tmp_path / "runs"), env=env)
    assert verified.returncode == 0, verified.stderr
    with Ledger.open() as ledger:
        assert json.loads(verified.stdout)["events"] == ledger.chain_length(run_id) > 0
    exported = _stager("runs", "export", run_id, "-o", str(tmp_path / "run.tar.gz"), env=env)
    assert exported.returncode == 0, exported.stderr
    checked = _stager("runs", "verify-export", str(tmp_path / "run.tar.gz"), env=env)
    assert checked.returncode == 0 and "intact" in checked.stdout, checked.stdout + checked.stderr
    assert not (tmp_path / "home" / "ledger.sqlite").exists()


def test_a_wrong_password_is_one_line_without_the_password(pg_server, pg_url, monkeypatch):
    wrong = "Wr0ng-pass-Phrase"
    monkeypatch.setenv("STAGER_LEDGER_URL", pg_server.url("postgres", password=wrong))
    with pytest.raises(UsageError, match="cannot open the ledger") as caught:
        Ledger.open()
    message = str(caught.value)
    assert wrong not in message and "password authentication failed" in message and "\n" not in message
    listed = _stager("runs", "list", env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert listed.returncode == 2
    assert wrong not in listed.stderr + listed.stdout and "Traceback" not in listed.stderr
    assert "postgresql://ledger_admin:***@127.0.0.1:" in listed.stderr


def test_ui_reads_the_database_read_only(pg_url):
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE
    from stager.ui.readonly import read_ledger

    with Ledger.open() as ledger:
        run_id = ledger.create_run(pipeline="p", pipeline_file="p.yaml", target="local", spec={}, versions={},
                                   git=None)
    with read_ledger(stager_home() / LEDGER_FILE) as opened:
        assert opened.ledger.run(run_id).state == "pending"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            opened.ledger.event(run_id, "ui.write", {})
    with Ledger.open() as ledger:
        assert [e.kind for e in ledger.run(run_id).events] == []


def test_redaction_masks_the_password_wherever_it_appears():
    url = "postgresql://team:p%40ss-w0rd@127.0.0.1:5432/ledger?sslmode=require"
    assert redact_url(url) == "postgresql://team:***@127.0.0.1:5432/ledger?sslmode=require"
    assert redact_url("postgresql://127.0.0.1/ledger?user=team&password=hunter22") == \
        "postgresql://127.0.0.1/ledger?user=team&password=***"
    assert redact_url("postgresql://team@localhost/ledger") == "postgresql://team@localhost/ledger"
    text = redact_secrets_in(f"failed for {url}: password p@ss-w0rd rejected", url)
    assert "p@ss-w0rd" not in text and "p%40ss-w0rd" not in text


def test_a_missing_driver_names_the_extra_to_install(monkeypatch):
    from stager.ledger import postgres

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UsageError, match=r"pip install 'stager\[postgres\]'"):
        postgres.driver()


def test_a_url_that_is_not_postgresql_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("STAGER_HOME", str(tmp_path))
    monkeypatch.setenv("STAGER_LEDGER_URL", "mysql://team:hunter22@127.0.0.1/ledger")
    with pytest.raises(UsageError, match="STAGER_LEDGER_URL=mysql://team:\\*\\*\\*@127.0.0.1/ledger is not a "
                                         "PostgreSQL URL") as caught:
        Ledger.open()
    assert "hunter22" not in str(caught.value)


def test_an_explicit_ledger_file_stays_a_file(pg_url, tmp_path):
    path = tmp_path / "exported.sqlite"
    with Ledger.open(path) as ledger:
        assert ledger.where == str(path)
    assert path.exists()


def test_the_ui_runs_table_filters_and_sorts_on_the_database(pg_url):
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE
    from stager.ui.queries import RunQuery, runs_page
    from stager.ui.readonly import read_ledger

    with Ledger.open() as ledger:
        ids = [ledger.create_run(pipeline=name, pipeline_file=f"{name}.yaml", target="local", spec={}, versions={},
                                 git=None) for name in ("alpha", "beta", "alpha")]
        ledger.transition(ids[0], "failed", reason="a test run")
    with read_ledger(stager_home() / LEDGER_FILE) as opened:
        newest = runs_page(opened.conn, RunQuery())
        assert [run.id for run in newest.runs] == ids[::-1] and newest.total == 3
        alphas = runs_page(opened.conn, RunQuery(pipeline="alpha", sort="duration", order="asc"))
        assert {run.id for run in alphas.runs} == {ids[0], ids[2]}
        failed = runs_page(opened.conn, RunQuery(status="failed"))
        assert [run.id for run in failed.runs] == [ids[0]] and failed.total == 1
