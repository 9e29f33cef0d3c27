"""``stager runs verify``: a real run checks intact, and each kind of change behind stager's back is named."""

from __future__ import annotations

import json

import pytest
from audit_world import client_for, edited_event, moved_away, replaced_object, s3_client, verify_command

from stager.audit.verify import verify_run
from stager.errors import UsageError


@pytest.fixture(scope="module")
def finished_run(small_run):
    """The session's small real run: (runs folder, run id). Each test undoes what it changes."""
    folder, run_id = small_run
    return folder / "runs", run_id


def _checkpoint(world, run_id: str):
    with world.ledger() as ledger:
        return next(a for a in ledger.run(run_id).artifacts if a.path == "checkpoints/last.ckpt")


def test_a_real_run_verifies_intact(run_world, finished_run):
    runs, run_id = finished_run
    done = verify_command(run_world, run_id, "--runs-dir", str(runs))
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{run_id} intact (chain of ")
    assert "of them in object storage)" in done.output

    with run_world.ledger() as ledger:
        result = verify_run(ledger, run_id[:-2], runs_dir=runs, s3_client_for=client_for(run_world))
        offline = verify_run(ledger, run_id, runs_dir=runs, s3_client_for=None)
    assert result.intact and result.run_id == run_id and result.events > 10
    assert all(a.checked_local for a in result.artifacts)
    remote = {a.path for a in result.artifacts if a.checked_remote}
    assert "checkpoints/last.ckpt" in remote
    assert remote == {a.path for a in result.artifacts if a.location.startswith("s3://")}
    assert offline.intact and not any(a.checked_remote for a in offline.artifacts)
    assert offline.not_checked == ("object storage not checked: no client given",)

    data = json.loads(verify_command(run_world, run_id, "--runs-dir", str(runs), "--json").output)
    assert data["intact"] is True and data["findings"] == [] and data["run_id"] == run_id


def test_an_event_edited_in_the_ledger_file_is_named(run_world, finished_run):
    runs, run_id = finished_run
    forged = json.dumps({"epoch": 0, "step": 5, "metrics": {"val_loss": 0.001}})
    with edited_event(run_world.home / "ledger.sqlite", run_id, "train.epoch", forged) as seq:
        done = verify_command(run_world, run_id, "--runs-dir", str(runs))
        assert done.exit_code == 1, done.output
        assert f"{run_id} CHANGED (1 finding(s))" in done.output
        assert f"ledger event seq {seq} (train.epoch): content does not match its hash (edited)" in done.output
    assert verify_command(run_world, run_id, "--runs-dir", str(runs)).exit_code == 0


def test_a_checkpoint_replaced_in_the_bucket_is_named(run_world, finished_run):
    runs, run_id = finished_run
    checkpoint = _checkpoint(run_world, run_id)
    client = s3_client(run_world)
    with replaced_object(client, checkpoint.location, b"not the trained weights"):
        done = verify_command(run_world, run_id, "--runs-dir", str(runs))
        assert done.exit_code == 1, done.output
        assert (f"{checkpoint.location}: sha256 differs from the ledger (recorded {checkpoint.sha256[:12]}..., "
                "found ") in done.output
        assert "checkpoints/last.ckpt" in done.output
    with replaced_object(client, checkpoint.location, None):
        with run_world.ledger() as ledger:
            result = verify_run(ledger, run_id, runs_dir=runs, s3_client_for=client_for(run_world))
        assert result.findings == [f"{checkpoint.location}: missing from object storage (recorded as "
                                   "checkpoints/last.ckpt)"]
    assert verify_command(run_world, run_id, "--runs-dir", str(runs)).exit_code == 0


def test_a_local_artifact_deleted_or_changed_is_named(run_world, finished_run):
    runs, run_id = finished_run
    log = runs / run_id / "logs" / "train.log"
    with moved_away(log):
        done = verify_command(run_world, run_id, "--runs-dir", str(runs), "--json")
        assert done.exit_code == 1, done.output
        data = json.loads(done.output)
        assert data["intact"] is False
        assert len(data["findings"]) == 1 and data["findings"][0].startswith("logs/train.log: missing from ")
    original = log.read_bytes()
    try:
        log.write_bytes(original[:-1] + (b"X" if original[-1:] != b"X" else b"Y"))  # same size, other bytes
        with run_world.ledger() as ledger:
            result = verify_run(ledger, run_id, runs_dir=runs, s3_client_for=None)
        assert [f.split(" (recorded")[0] for f in result.findings] == ["logs/train.log: sha256 differs from the ledger"]
    finally:
        log.write_bytes(original)


def test_every_run_is_checked_and_an_unknown_one_is_a_usage_error(run_world, finished_run, tmp_path):
    runs, run_id = finished_run
    done = verify_command(run_world, "--runs-dir", str(runs), "--json")
    data = json.loads(done.output)
    assert run_id in [r["run_id"] for r in data]
    # runs of other tests have their folders elsewhere: said, not counted as a change
    others = [r for r in data if r["run_id"] != run_id and r["artifacts"]]
    assert all(any("local files not checked" in n for n in r["not_checked"]) for r in others)

    unknown = verify_command(run_world, "r19990101-nope", "--runs-dir", str(runs))
    assert isinstance(unknown.exception, UsageError) and unknown.exception.exit_code == 2
    missing = verify_command(run_world, "--ledger", str(tmp_path / "none.sqlite"))
    assert missing.exit_code == 0 and "no runs yet" in missing.output
