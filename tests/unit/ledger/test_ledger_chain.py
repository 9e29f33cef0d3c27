"""The hash chain: an intact run verifies, and raw-SQL edits, deletions and forgeries are found."""

from __future__ import annotations

import json
import sqlite3

import pytest

from stager.ledger.chain import GENESIS, event_hash

SHA = "cd" * 32


@pytest.fixture
def busy_run(ledger, make_run, clock):
    """A run with one record of each kind, and a second run beside it."""
    run_id = make_run()
    make_run()
    ledger.transition(run_id, "validating")
    ledger.dataset(run_id, name="mnist", digest=SHA, ok=True)
    ledger.transition(run_id, "provisioning")
    ledger.resource_created(run_id, kind="instance", provider_id=8, label="i", hourly_usd=1.5)
    ledger.image(run_id, image_id="private/2", recipe_hash="ab" * 10)
    ledger.transition(run_id, "training")
    ledger.event(run_id, "train.epoch", {"epoch": 1, "loss": 0.5})
    ledger.event(run_id, "train.epoch", {"epoch": 2, "loss": 0.25})
    clock.advance(minutes=30)
    ledger.artifact(run_id, path="model.pt", location="s3://bucket/model.pt", size=10, sha256=SHA)
    ledger.resource_deleted(run_id, kind="instance", provider_id=8)
    ledger.cost(run_id, estimated_usd=1.5, actual_usd=1.5)
    return run_id


def tamper(path, *statements: tuple[str, tuple]) -> None:
    """Edit the file as an attacker with sqlite3 would: drop the append-only triggers first."""
    conn = sqlite3.connect(path)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def _event(path, run_id, seq):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)).fetchone()
    finally:
        conn.close()


def test_an_untouched_run_verifies(ledger, busy_run):
    assert ledger.verify_chain(busy_run) == []
    assert ledger.verify_chain(busy_run[:-1]) == []  # a unique prefix is accepted
    for summary in ledger.runs():
        assert ledger.verify_chain(summary.id) == []


def test_each_hash_covers_the_previous_one(ledger, ledger_path, busy_run):
    first, second = _event(ledger_path, busy_run, 1), _event(ledger_path, busy_run, 2)
    assert first["prev_hash"] == GENESIS and second["prev_hash"] == first["hash"]
    assert first["hash"] == event_hash(GENESIS, run_id=busy_run, seq=1, time=first["time"], kind=first["kind"],
                                       data=json.loads(first["data"]))


def test_an_edited_event_is_found(ledger, ledger_path, busy_run):
    row = _event(ledger_path, busy_run, 9)
    assert row["kind"] == "train.epoch"
    tamper(ledger_path, ("UPDATE events SET data = ? WHERE id = ?", ('{"epoch":1,"loss":0.01}', row["id"])))
    problems = ledger.verify_chain(busy_run)
    assert problems == ["event seq 9 (train.epoch): content does not match its hash (edited)"]


def test_an_edited_record_row_is_found(ledger, ledger_path, busy_run):
    tamper(ledger_path, ("UPDATE artifacts SET sha256 = ? WHERE run_id = ?", ("ee" * 32, busy_run)),
           ("UPDATE resource_deletions SET usd = 0 WHERE run_id = ?", (busy_run,)))
    problems = ledger.verify_chain(busy_run)
    assert len(problems) == 2
    assert any(p.startswith("artifacts row") and "(edited)" in p for p in problems)
    assert any(p.startswith("resource_deletions row") for p in problems)


def test_an_edited_run_row_is_found(ledger, ledger_path, busy_run):
    tamper(ledger_path, ("UPDATE runs SET spec = ? WHERE id = ?", ('{"budget": {"max_usd": 9999}}', busy_run)))
    assert ledger.verify_chain(busy_run) == ["runs row differs from the run.created event (edited)"]


def test_a_rehashed_edit_still_breaks_the_next_link(ledger, ledger_path, busy_run):
    # A careful forger recomputes the edited event's own hash; the next event still points at the old one.
    row = _event(ledger_path, busy_run, 9)
    data = {"epoch": 1, "loss": 0.01}
    forged = event_hash(row["prev_hash"], run_id=busy_run, seq=9, time=row["time"], kind=row["kind"], data=data)
    tamper(ledger_path, ("UPDATE events SET data = ?, hash = ? WHERE id = ?", (json.dumps(data), forged, row["id"])))
    assert ledger.verify_chain(busy_run) == ["event seq 10: prev_hash does not match the hash of the event before it"]


def test_a_deleted_event_is_found(ledger, ledger_path, busy_run):
    tamper(ledger_path, ("DELETE FROM events WHERE run_id = ? AND seq = 10", (busy_run,)))
    problems = ledger.verify_chain(busy_run)
    assert "event seq 11: expected seq 10 (an event is missing or was inserted)" in problems
    assert any("prev_hash does not match" in p for p in problems)


def test_a_deleted_record_row_is_found(ledger, ledger_path, busy_run):
    tamper(ledger_path, ("DELETE FROM transitions WHERE run_id = ? AND state = 'training'", (busy_run,)))
    problems = ledger.verify_chain(busy_run)
    assert len(problems) == 1 and "its transitions row is missing" in problems[0]


def test_a_forged_illegal_transition_is_found(ledger, ledger_path, busy_run):
    # Even a correctly chained append is checked against the state machine.
    head = _event(ledger_path, busy_run, 13)
    assert head["kind"] == "cost" and _event(ledger_path, busy_run, 14) is None
    data = {"state": "succeeded", "reason": None}
    digest = event_hash(head["hash"], run_id=busy_run, seq=14, time=head["time"], kind="state", data=data)
    tamper(ledger_path,
           ("INSERT INTO events (id, run_id, seq, time, kind, data, prev_hash, hash) VALUES (9999, ?, 14, ?, 'state', "
            "?, ?, ?)", (busy_run, head["time"], json.dumps(data), head["hash"], digest)),
           ("INSERT INTO transitions (run_id, event_id, state, reason) VALUES (?, 9999, 'succeeded', NULL)",
            (busy_run,)))
    problems = ledger.verify_chain(busy_run)
    assert len(problems) == 1 and "illegal transition" in problems[0] and "after 'tearing_down'" in problems[0]


def test_tampering_with_one_run_leaves_others_intact(ledger, ledger_path, busy_run):
    other = next(s.id for s in ledger.runs() if s.id != busy_run)
    tamper(ledger_path, ("UPDATE events SET time = ? WHERE run_id = ? AND seq = 2", ("2020-01-01", busy_run)))
    assert ledger.verify_chain(busy_run) and ledger.verify_chain(other) == []


def test_nan_in_recorded_data_still_verifies(ledger, make_run):
    run_id = make_run(spec={"train": {"init_loss": float("nan")}})
    ledger.event(run_id, "train.epoch", {"loss": float("inf")})
    assert ledger.verify_chain(run_id) == []
