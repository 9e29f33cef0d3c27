"""stager gc's rules, as a pure function: no cloud, no ledger, no lock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stager.gc import Found, RunFacts, decide
from stager.gc.inventory import run_in_label

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=2)
EARLIER = NOW - timedelta(minutes=1)
RUN = "r20260110-100000-abcd"


def instance(run: str | None = RUN, ttl: datetime | None = LATER, **changes) -> Found:
    return Found(**{"kind": "instance", "id": "7", "label": f"stager-{run}-train-0", "run_id": run, "ttl": ttl,
                    "status": "running", **changes})


def facts(state: str | None, alive: bool = False, **changes) -> RunFacts:
    return RunFacts(**{"run_id": RUN, "state": state, "controller_alive": alive, **changes})


@pytest.mark.parametrize("state", ["succeeded", "failed", "aborted"])
def test_a_finished_runs_resources_are_garbage(state):
    for kind in ("instance", "volume", "firewall", "bucket_key"):
        decision = decide(instance(kind=kind), facts(state), NOW)
        assert decision.delete and decision.reason == f"run {state}" and not decision.fail_run


def test_a_run_with_a_live_controller_is_never_touched_even_late_or_finished():
    kept = decide(instance(), facts("training", alive=True), NOW)
    assert not kept.delete and kept.reason == "run is training and its controller is alive"
    late = decide(instance(ttl=EARLIER), facts("training", alive=True), NOW)
    assert not late.delete and "ttl passed at 2026-01-10 11:59 UTC" in late.reason
    assert not decide(instance(), facts("failed", alive=True), NOW).delete  # still tearing down


@pytest.mark.parametrize("state", ["pending", "provisioning", "training", "tearing_down", "resumed"])
def test_a_run_whose_controller_is_gone_is_garbage_and_failed(state):
    decision = decide(instance(), facts(state), NOW)
    assert decision.delete and decision.fail_run
    assert decision.reason == f"run is {state} but its controller is gone"


def test_an_unknown_run_is_garbage_and_so_is_a_passed_ttl():
    assert decide(instance(), facts(None), NOW).reason == "run unknown to the ledger"
    expired = decide(instance(ttl=EARLIER), facts(None), NOW)
    assert expired.delete and expired.reason == "ttl passed at 2026-01-10 11:59 UTC"
    assert decide(instance(ttl=NOW), facts(None), NOW).delete  # the deadline itself is past


def test_an_image_build_in_progress_is_kept_until_its_ttl():
    build = "b20260110-100000-beef"
    builder = instance(run=build)
    running = facts(None, run_id=build, build_status="running")
    assert decide(builder, running, NOW).reason.startswith("image build in progress")
    assert decide(instance(run=build, ttl=EARLIER), running, NOW).delete
    assert decide(builder, facts(None, run_id=build, build_status="failed"), NOW).reason == "image build failed"


def test_a_data_sync_is_kept_until_its_ttl():
    sync = "d20260110-100000-0a0a"
    assert not decide(instance(run=sync), facts(None, run_id=sync), NOW).delete
    assert decide(instance(run=sync, ttl=EARLIER), facts(None, run_id=sync), NOW).delete
    assert decide(instance(run=sync, ttl=None), facts(None, run_id=sync), NOW).delete


def test_what_names_no_run_and_dataset_volumes_are_kept():
    assert not decide(instance(run=None), None, NOW).delete
    volume = instance(kind="volume", ttl=None, dataset=True)
    assert "dataset volume" in decide(volume, facts("succeeded"), NOW).reason


def test_images_are_garbage_only_when_their_capture_never_finished():
    build = "b20260110-100000-beef"
    gold = Found("image", "private/1", "stager-gold-abc", build, None, "available", NOW - timedelta(days=90))
    assert not decide(gold, facts(None, run_id=build, build_status="succeeded"), NOW).delete
    assert not decide(gold, facts(None, run_id=build), NOW).delete  # even when its build is unknown here
    half = Found("image", "private/2", "stager-gold-def", build, None, "creating", NOW)
    assert not decide(half, facts(None, run_id=build, build_status="running", build_deadline=LATER), NOW).delete
    assert decide(half, facts(None, run_id=build, build_status="running"), NOW).delete  # its builder is gone
    assert decide(half, facts(None, run_id=build, build_status="failed"), NOW).reason == \
        "creating: capture never finished (build failed)"
    upload = Found("image", "private/3", "mine", None, None, "pending_upload", NOW - timedelta(hours=3))
    assert not decide(upload, None, NOW).delete
    assert decide(upload, None, NOW + timedelta(days=1)).delete


def test_a_keys_run_is_read_from_its_label():
    assert run_in_label(f"stager-{RUN}-key-0", []) == RUN
    assert run_in_label("stager-r1-2-key-0", ["r1", "r1-2"]) == "r1-2"
    assert run_in_label("stager-r1-key-0", ["r1"]) == "r1"
    assert run_in_label("stager-whatever", []) is None
    assert run_in_label("laptop", [RUN]) is None
