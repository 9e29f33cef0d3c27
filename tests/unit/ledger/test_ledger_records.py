"""Every kind of record written through the API comes back through ``run()`` and ``runs()``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from stager.errors import UsageError
from stager.ledger.billing import billed_hours, billed_usd

SHA = "ab" * 32


def test_a_new_run_round_trips(ledger, make_run, clock):
    run_id = make_run(sprint_id="s1")
    record = ledger.run(run_id)
    assert run_id.startswith("r") and record.id == run_id
    assert (record.pipeline, record.pipeline_file, record.target, record.sprint_id) == (
        "mnist-mlp", "pipelines/mnist.yaml", "local", "s1")
    assert record.spec["compute"] == {"type": "g1-gpu-rtx6000-1", "nodes": 1}
    assert record.versions == {"stager": "0.1.0", "torch": "2.13.0", "python": "3.11.7"}
    assert record.git == {"commit": "0123abcd", "dirty": True}
    assert record.created == clock.now and record.state == "pending" and record.finished is None
    assert [t.state for t in record.transitions] == ["pending"]


def test_a_given_run_id_is_kept_and_cannot_be_reused(ledger, make_run):
    assert make_run(run_id="r-custom-1") == "r-custom-1"
    with pytest.raises(ValueError, match="already exists"):
        make_run(run_id="r-custom-1")
    with pytest.raises(ValueError, match="run id"):
        make_run(run_id="has space")
    assert make_run(git=None) != "r-custom-1"


def test_every_record_type_round_trips(ledger, make_run, clock):
    run_id = make_run()
    clock.advance(seconds=5)
    ledger.transition(run_id, "validating")
    ledger.dataset(run_id, name="mnist", digest=SHA, ok=True)
    ledger.event(run_id, "data.checked", {"files": 4, "warnings": ["skew"]})
    ledger.transition(run_id, "imaging")
    ledger.image(run_id, image_id="private/12", recipe_hash="c0ffee" * 4)
    ledger.cost(run_id, estimated_usd=1.5)
    ledger.transition(run_id, "provisioning")
    ledger.resource_created(run_id, kind="instance", provider_id=4321, label="stager-r1-0", plan="g1-gpu-rtx6000-1",
                            region="us-east", hourly_usd=1.5)
    ledger.resource_created(run_id, kind="firewall", provider_id="fw-9", label="stager-r1")
    ledger.transition(run_id, "training")
    clock.advance(minutes=61)
    ledger.event(run_id, "train.epoch", {"epoch": 1, "val_loss": float("nan")})
    ledger.transition(run_id, "collecting")
    ledger.artifact(run_id, path="checkpoints/last.ckpt", location=f"runs/{run_id}/checkpoints/last.ckpt",
                    size=1234, sha256=SHA)
    ledger.transition(run_id, "tearing_down")
    ledger.resource_deleted(run_id, kind="instance", provider_id=4321)
    ledger.resource_deleted(run_id, kind="firewall", provider_id="fw-9")
    ledger.cost(run_id, actual_usd=3.0)
    ledger.transition(run_id, "succeeded", reason="done")

    record = ledger.run(run_id)
    assert record.state == "succeeded" and record.finished == clock.now
    assert record.duration() == timedelta(minutes=61, seconds=5)
    assert [t.state for t in record.transitions] == ["pending", "validating", "imaging", "provisioning", "training",
                                                    "collecting", "tearing_down", "succeeded"]
    assert record.transitions[-1].reason == "done"
    assert [(d.name, d.digest, d.ok) for d in record.datasets] == [("mnist", SHA, True)]
    assert [(i.image_id, i.recipe_hash) for i in record.images] == [("private/12", "c0ffee" * 4)]
    assert [(a.path, a.size, a.sha256) for a in record.artifacts] == [("checkpoints/last.ckpt", 1234, SHA)]
    assert record.artifacts[0].location.startswith(f"runs/{run_id}/")
    assert [e.kind for e in record.events] == ["data.checked", "train.epoch"]
    assert record.events[0].data == {"files": 4, "warnings": ["skew"]}
    instance, firewall = record.resources
    assert (instance.kind, instance.provider_id, instance.plan, instance.region) == (
        "instance", "4321", "g1-gpu-rtx6000-1", "us-east")
    assert instance.billed_hours == 2 and instance.usd == 3.0 and not instance.live
    assert firewall.usd is None and firewall.billed_hours == 2
    assert [(c.estimated_usd, c.actual_usd) for c in record.costs] == [(1.5, None), (None, 3.0)]
    assert (record.estimated_usd, record.actual_usd, record.billed_usd) == (1.5, 3.0, 3.0)
    assert len(record.head_hash) == 64
    json.dumps(record.to_json())  # JSON-ready throughout

    (summary,) = ledger.runs()
    assert (summary.id, summary.state, summary.estimated_usd, summary.actual_usd) == (run_id, "succeeded", 1.5, 3.0)


@pytest.mark.parametrize(("minutes", "hours"), [(0, 1), (1, 1), (59.99, 1), (60, 1), (61, 2), (120, 2), (121, 3)])
def test_billed_hours_are_whole_started_hours(ledger, make_run, clock, minutes, hours):
    run_id = make_run()
    ledger.resource_created(run_id, kind="instance", provider_id=1, label="i", hourly_usd=1.5)
    clock.advance(minutes=minutes)
    ledger.resource_deleted(run_id, kind="instance", provider_id=1)
    (resource,) = ledger.run(run_id).resources
    assert resource.billed_hours == hours and resource.usd == pytest.approx(1.5 * hours)
    assert resource.deleted - resource.created == timedelta(minutes=minutes)


def test_billing_rule_details(clock):
    start = clock.now
    assert billed_hours(start, start - timedelta(minutes=5)) == 1  # a clock stepped back
    assert billed_hours(start, start + timedelta(hours=3, microseconds=1)) == 4
    assert billed_usd(900, 1.5, monthly_usd=1000) == 1000  # capped at the plan's monthly price
    assert billed_usd(3, None) is None


def test_actual_cost_falls_back_to_billed_resources(ledger, make_run, clock):
    run_id = make_run()
    ledger.resource_created(run_id, kind="instance", provider_id=1, label="i", hourly_usd=0.036)
    ledger.resource_created(run_id, kind="volume", provider_id=2, label="v", hourly_usd=0.003)
    clock.advance(minutes=30)
    ledger.resource_deleted(run_id, kind="instance", provider_id=1)
    assert ledger.run(run_id).actual_usd == 0.036  # the live volume has not been billed yet
    ledger.resource_deleted(run_id, kind="volume", provider_id=2)
    assert ledger.runs()[0].actual_usd == pytest.approx(0.039)


def test_live_resources_across_runs(ledger, make_run):
    first, second = make_run(), make_run()
    ledger.resource_created(first, kind="instance", provider_id=1, label="a")
    ledger.resource_created(first, kind="key", provider_id="k1", label="a-key")
    ledger.resource_created(second, kind="bucket_key", provider_id=3, label="b-bucket")
    assert [(r.run_id, r.provider_id) for r in ledger.live_resources()] == [(first, "1"), (first, "k1"),
                                                                            (second, "3")]
    ledger.resource_deleted(first, kind="instance", provider_id=1)
    assert [r.provider_id for r in ledger.live_resources(first)] == ["k1"]
    assert all(r.live for r in ledger.live_resources())


def test_resource_lives_are_checked(ledger, make_run):
    first, second = make_run(), make_run()
    ledger.resource_created(first, kind="instance", provider_id=1, label="a")
    with pytest.raises(ValueError, match="already recorded as live"):
        ledger.resource_created(second, kind="instance", provider_id=1, label="b")
    with pytest.raises(ValueError, match="no live instance 1"):
        ledger.resource_deleted(second, kind="instance", provider_id=1)  # another run's
    ledger.resource_deleted(first, kind="instance", provider_id=1)
    with pytest.raises(ValueError, match="no live instance 1"):
        ledger.resource_deleted(first, kind="instance", provider_id=1)
    # An id can come back (the local emulator numbers from 1 again after a reset).
    ledger.resource_created(second, kind="instance", provider_id=1, label="b")
    assert [r.run_id for r in ledger.live_resources()] == [second]
    with pytest.raises(ValueError, match="resource kind"):
        ledger.resource_created(first, kind="nodebalancer", provider_id=5, label="x")


@pytest.mark.parametrize(("method", "kwargs", "message"), [
    ("artifact", {"path": "/etc/passwd", "location": "x", "size": 1, "sha256": SHA}, "relative"),
    ("artifact", {"path": "../up", "location": "x", "size": 1, "sha256": SHA}, "relative"),
    ("artifact", {"path": "a", "location": "x", "size": -1, "sha256": SHA}, "size"),
    ("artifact", {"path": "a", "location": "x", "size": 1, "sha256": "nothex"}, "sha256"),
    ("dataset", {"name": "d", "digest": SHA, "ok": "yes"}, "true or false"),
    ("dataset", {"name": "d", "digest": "abc", "ok": True}, "digest"),
    ("image", {"image_id": "private/1", "recipe_hash": "xyz"}, "recipe_hash"),
    ("cost", {}, "estimated_usd, actual_usd or both"),
    ("cost", {"estimated_usd": -1}, "dollars"),
    ("cost", {"actual_usd": float("inf")}, "dollars"),
    ("event", {"kind": "state", "data": {}}, "written by the ledger"),
    ("event", {"kind": "Bad Kind", "data": {}}, "event kind"),
    ("event", {"kind": "ok", "data": [1]}, "must be a dict"),
    ("resource_created", {"kind": "instance", "provider_id": 1, "label": ""}, "label"),
    ("resource_created", {"kind": "instance", "provider_id": 1, "label": "x", "hourly_usd": "1"}, "dollars"),
])
def test_bad_fields_are_refused_and_nothing_is_written(ledger, make_run, method, kwargs, message):
    run_id = make_run()
    before = ledger.run(run_id).head_hash
    with pytest.raises(ValueError, match=message):
        if method == "event":
            ledger.event(run_id, kwargs["kind"], kwargs["data"])
        else:
            getattr(ledger, method)(run_id, **kwargs)
    assert ledger.run(run_id).head_hash == before


def test_unknown_runs_are_usage_errors(ledger, make_run):
    with pytest.raises(UsageError, match=r"no run r-nope .*stager runs list"):
        ledger.run("r-nope")
    for call in (lambda: ledger.transition("r-nope", "validating"), lambda: ledger.event("r-nope", "x"),
                 lambda: ledger.state("r-nope"), lambda: ledger.cost("r-nope", estimated_usd=1),
                 lambda: ledger.verify_chain("r-nope")):
        with pytest.raises(UsageError, match="no run r-nope"):
            call()


def test_run_accepts_a_unique_prefix(ledger, make_run):
    make_run(run_id="r-alpha-1")
    make_run(run_id="r-alpha-2")
    make_run(run_id="r-beta-1")
    assert ledger.run("r-b").id == "r-beta-1"
    assert ledger.run("r-alpha-1").id == "r-alpha-1"
    with pytest.raises(UsageError, match="matches several runs"):
        ledger.run("r-alpha")
    with pytest.raises(UsageError, match="no run r-b"):  # writes take whole ids only
        ledger.transition("r-b", "validating")


def test_runs_filters(ledger, make_run, clock):
    old = make_run(pipeline="cifar")
    clock.advance(days=3)
    since = clock.now
    failed = make_run(sprint_id="s-7")
    ledger.transition(failed, "failed", reason="boom")
    clock.advance(hours=1)
    newest = make_run(sprint_id="s-7")

    assert [s.id for s in ledger.runs()] == [newest, failed, old]  # newest first
    assert [s.id for s in ledger.runs(status="failed")] == [failed]
    assert [s.id for s in ledger.runs(status="pending")] == [newest, old]
    assert [s.id for s in ledger.runs(since=since)] == [newest, failed]
    assert [s.id for s in ledger.runs(since=since.replace(tzinfo=None))] == [newest, failed]  # naive is UTC
    assert [s.id for s in ledger.runs(pipeline="cifar")] == [old]
    assert [s.id for s in ledger.runs(sprint="s-7", status="pending")] == [newest]
    assert ledger.runs(pipeline="nothing") == []
    with pytest.raises(UsageError, match="unknown state 'done'"):
        ledger.runs(status="done")
    summary = ledger.runs(status="failed")[0]
    assert summary.finished == since and summary.is_finished


@dataclass
class _Build:
    """The shape of stager.image.records.BuildRecord, which the ledger takes by shape."""

    build_id: str
    status: str
    recipe: str = "images/gold.yaml"
    recipe_name: str = "gold"
    recipe_hash: str = "f" * 64
    target: str = "local"
    image_id: str | None = "private/3"
    started: str = "2026-11-21T12:00:00+00:00"
    estimated_usd: float | None = 0.036
    extra: dict = field(default_factory=dict)


def test_adopt_builds_is_idempotent(ledger):
    builds = [_Build("b1", "succeeded"), _Build("b2", "reused"), _Build("b3", "running")]
    assert ledger.adopt_builds(builds) == 2  # the running build waits for its final record
    assert ledger.adopt_builds(builds) == 0
    builds[2].status = "failed"
    assert ledger.adopt_builds(builds) == 1
    assert [b["build_id"] for b in ledger.builds()] == ["b1", "b2", "b3"]
    assert [b["status"] for b in ledger.builds("private/3")] == ["succeeded", "reused", "failed"]
    with pytest.raises(ValueError, match="secret"):
        ledger.adopt_builds([_Build("b4", "failed", extra={"root_pass": "hunter2"})])


def test_adopt_real_build_records(ledger, tmp_path):
    from stager.image.records import BuildRecord, BuildStore

    store = BuildStore(tmp_path / "home")
    store.save(BuildRecord(build_id="b20261121-130733-cd6d", recipe="images/gold.yaml", recipe_name="gold",
                           recipe_hash="e" * 64, target="local", status="succeeded", image_id="private/9"))
    assert ledger.adopt_builds(store.all()) == 1
    assert ledger.adopt_builds(store.all()) == 0
    assert ledger.builds()[0]["image_id"] == "private/9"
