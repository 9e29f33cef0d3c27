"""The run state machine: forward only, terminal states final, resume by a ``resumed`` transition."""

from __future__ import annotations

import pytest

from stager.ledger.states import STAGES, check_transition

LEGAL = [
    (None, "pending"),
    ("pending", "validating"),
    ("validating", "syncing"),
    ("syncing", "provisioning"),  # imaging skipped: the image exists
    ("pending", "training"),
    ("tearing_down", "succeeded"),
    ("training", "failed"),
    ("pending", "aborted"),
    ("training", "tearing_down"),
    ("failed", "resumed"),
    ("aborted", "resumed"),
    ("resumed", "provisioning"),
    ("resumed", "validating"),
    ("resumed", "failed"),
]

ILLEGAL = [
    (None, "validating", "starts as 'pending'"),
    ("validating", "pending", "first state"),
    ("training", "syncing", "forward only"),
    ("training", "training", "forward only"),
    ("training", "succeeded", "after 'tearing_down'"),
    ("succeeded", "training", "nothing may follow"),
    ("succeeded", "resumed", "nothing may follow"),
    ("failed", "training", "only 'resumed'"),
    ("aborted", "failed", "only 'resumed'"),
    ("training", "resumed", "only a failed or aborted run"),
    ("resumed", "resumed", "only a failed or aborted run"),
    ("resumed", "succeeded", "after 'tearing_down'"),
    ("resumed", "pending", "first state"),
    ("training", "done", "unknown run state"),
]


@pytest.mark.parametrize(("current", "new"), LEGAL)
def test_legal_moves(current, new):
    check_transition(current, new)


@pytest.mark.parametrize(("current", "new", "message"), ILLEGAL)
def test_illegal_moves(current, new, message):
    with pytest.raises(ValueError, match=message):
        check_transition(current, new)


def test_a_run_walks_every_stage(ledger, make_run):
    run_id = make_run()
    for stage in STAGES[1:]:
        ledger.transition(run_id, stage)
        assert ledger.state(run_id) == stage
    ledger.transition(run_id, "succeeded")
    assert ledger.state(run_id) == "succeeded"
    with pytest.raises(ValueError, match="nothing may follow"):
        ledger.transition(run_id, "failed")


def test_a_refused_move_writes_nothing(ledger, make_run):
    run_id = make_run()
    ledger.transition(run_id, "training")
    head = ledger.run(run_id).head_hash
    with pytest.raises(ValueError):
        ledger.transition(run_id, "validating")
    assert ledger.run(run_id).head_hash == head and ledger.state(run_id) == "training"


def test_resume_reopens_a_failed_run(ledger, make_run):
    run_id = make_run()
    ledger.transition(run_id, "training")
    ledger.transition(run_id, "failed", reason="instance lost")
    assert ledger.runs(status="failed")[0].finished is not None
    ledger.resume(run_id, reason="stager run --resume")
    assert ledger.state(run_id) == "resumed" and ledger.runs()[0].finished is None
    for stage in ("provisioning", "training", "collecting", "tearing_down", "succeeded"):
        ledger.transition(run_id, stage)
    record = ledger.run(run_id)
    assert [t.state for t in record.transitions] == ["pending", "training", "failed", "resumed", "provisioning",
                                                    "training", "collecting", "tearing_down", "succeeded"]
    assert record.transitions[2].reason == "instance lost"
    assert ledger.verify_chain(run_id) == []
