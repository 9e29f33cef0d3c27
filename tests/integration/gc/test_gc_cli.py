"""`stager gc` as a user (or cron) runs it: a real subprocess, a STAGER_HOME in tmp, the local target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from lock_holder import hold_run_lock

from stager.cloud import Backoff, BucketAccess, InstanceSpec, LinodeCloud, resource_label, stager_tags
from stager.gc.sweep import FAILED_REASON
from stager.ledger import Ledger


class Workspace:
    """A STAGER_HOME with an emulator serving it, a cloud and a ledger on it, and `stager gc` to run."""

    def __init__(self, root, emulator, public_key: str) -> None:
        self.root, self.home, self.emulator = root, root / "home", emulator
        self.cloud = LinodeCloud(emulator.client(), poll=Backoff(0.02, 0.3))
        self.public_key = public_key
        self.ledger = Ledger.open(self.home / "ledger.sqlite")
        self.holders: list[subprocess.Popen] = []
        self.stderr = ""  # of the last `stager gc`

    def gc(self, *args: str, code: int = 0) -> dict:
        proc = subprocess.run([sys.executable, "-m", "stager", "gc", "--json", *args], cwd=self.root,
                              env={**os.environ, "STAGER_HOME": str(self.home)}, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == code, proc.stderr
        assert "Traceback" not in proc.stderr
        self.stderr = proc.stderr
        return json.loads(proc.stdout)

    def run(self, state: str) -> str:
        """A run in the ledger, moved to ``state``."""
        run_id = self.ledger.create_run(pipeline="exp", pipeline_file="pipelines/exp.yaml", target="local",
                                        spec={}, versions={}, git=None)
        for step in {"training": ["training"], "succeeded": ["tearing_down", "succeeded"],
                     "pending": []}[state]:
            self.ledger.transition(run_id, step)
        return run_id

    def instance(self, run_id: str, *, ttl=timedelta(hours=1), record: bool = True) -> int:
        spec = InstanceSpec(label=resource_label(run_id, "train"), plan="g6-nanode-1", region="us-east",
                            image="linode/ubuntu24.04", authorized_keys=(self.public_key,),
                            tags=stager_tags(run_id, ttl))
        info = self.cloud.create_instance(spec)
        if record:
            self.ledger.resource_created(run_id, kind="instance", provider_id=info.id, label=info.label,
                                         plan=spec.plan, region=spec.region, hourly_usd=0.0075)
        return info.id

    def firewall(self, run_id: str) -> int:
        info = self.cloud.create_firewall(f"stager-{run_id}-fw", ssh_from=["127.0.0.0/8"],
                                          tags=stager_tags(run_id, timedelta(hours=1)))
        self.ledger.resource_created(run_id, kind="firewall", provider_id=info.id, label=info.label)
        return info.id

    def key(self, run_id: str) -> int:
        buckets = {b.label for b in self.emulator.client().object_storage.buckets()}
        if "stager-runs" not in buckets:
            self.emulator.client().object_storage.bucket_create("us-east", "stager-runs")
        key = self.cloud.create_object_key(resource_label(run_id, "key"),
                                           [BucketAccess("stager-runs", "us-east", "read_write")])
        self.ledger.resource_created(run_id, kind="bucket_key", provider_id=key.id, label=key.label)
        return key.id

    def hold(self, run_id: str) -> subprocess.Popen:
        """A live process holding the run's lock, as its controller would."""
        proc = hold_run_lock(run_id, self.home)
        self.holders.append(proc)
        return proc

    def instances(self) -> set[int]:
        return {i.id for i in self.cloud.list_instances()}

    def close(self) -> None:
        for proc in self.holders:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
        for info in self.cloud.list_instances():  # nothing outlives the test
            self.cloud.delete_instance(info.id)
        self.ledger.close()


@pytest.fixture
def ws(tmp_path, ssh_key):
    from stager.emulator import Emulator

    with Emulator(tmp_path / "home" / "emulator", rate_limits=False) as emulator:
        workspace = Workspace(tmp_path, emulator, ssh_key[1])
        try:
            yield workspace
        finally:
            workspace.close()


def _by_id(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["kind"], r["id"]): r for r in report["resources"]}


def test_a_finished_runs_leftovers_go_and_the_ledger_says_so(ws):
    run_id = ws.run("succeeded")
    instance, firewall, key = ws.instance(run_id), ws.firewall(run_id), ws.key(run_id)
    report = ws.gc()
    rows = _by_id(report)
    for kind, pid in (("instance", instance), ("firewall", firewall), ("bucket_key", key)):
        row = rows[(kind, str(pid))]
        assert (row["run"], row["decision"], row["reason"]) == (run_id, "deleted", "run succeeded")
    assert report["ok"] and report["failed_runs"] == []
    assert ws.instances() == set() and ws.cloud.list_firewalls() == [] and ws.cloud.list_object_keys() == []
    assert ws.ledger.live_resources() == []
    assert ws.ledger.state(run_id) == "succeeded"
    again = ws.gc()
    assert again["resources"] == [] and again["reconciled"] == []


def test_a_running_run_is_kept_and_a_dead_controllers_run_is_collected_and_failed(ws):
    running, orphan = ws.run("training"), ws.run("training")
    kept, lost = ws.instance(running), ws.instance(orphan)
    controller = ws.hold(running)
    report = ws.gc()
    rows = _by_id(report)
    assert rows[("instance", str(kept))]["decision"] == "kept"
    assert rows[("instance", str(kept))]["reason"] == "run is training and its controller is alive"
    assert rows[("instance", str(lost))]["decision"] == "deleted"
    assert rows[("instance", str(lost))]["reason"] == "run is training but its controller is gone"
    assert report["failed_runs"] == [orphan]
    assert ws.instances() == {kept}
    assert ws.ledger.state(running) == "training" and ws.ledger.state(orphan) == "failed"
    assert ws.ledger.run(orphan).transitions[-1].reason == FAILED_REASON
    assert [r.provider_id for r in ws.ledger.live_resources()] == [str(kept)]

    controller.kill()  # the controller dies: the next pass collects its run
    controller.wait(timeout=10)
    report = ws.gc()
    assert [r["decision"] for r in report["resources"]] == ["deleted"] and report["failed_runs"] == [running]
    assert ws.instances() == set() and ws.ledger.live_resources() == []


def test_unknown_runs_and_passed_ttls_are_collected(ws):
    unknown = ws.instance("r20250101-000000-dead", record=False)
    sync = ws.instance("d20250101-000000-0a0a", ttl=timedelta(hours=1), record=False)
    report = ws.gc()
    rows = _by_id(report)
    assert (rows[("instance", str(unknown))]["decision"], rows[("instance", str(unknown))]["reason"]) == \
        ("deleted", "run unknown to the ledger")
    assert rows[("instance", str(sync))]["decision"] == "kept"  # a data sync may be running

    ws.emulator.clock.advance(hours=2)  # the provider's clock decides, not this machine's
    rows = _by_id(ws.gc())
    assert rows[("instance", str(sync))]["decision"] == "deleted"
    assert rows[("instance", str(sync))]["reason"].startswith("ttl passed at ")
    assert ws.instances() == set()


def test_a_dry_run_changes_nothing(ws):
    finished, orphan = ws.run("succeeded"), ws.run("training")
    instance, firewall = ws.instance(finished), ws.firewall(orphan)
    report = ws.gc("--dry-run")
    assert {r["decision"] for r in report["resources"]} == {"would delete"}
    assert report["failed_runs"] == [orphan] and "dry run" in report["summary"]
    assert ws.instances() == {instance} and [f.id for f in ws.cloud.list_firewalls()] == [firewall]
    assert ws.ledger.state(orphan) == "training" and len(ws.ledger.live_resources()) == 2

    table = subprocess.run([sys.executable, "-m", "stager", "gc", "--dry-run"], cwd=ws.root,
                           env={**os.environ, "STAGER_HOME": str(ws.home)}, capture_output=True, text=True,
                           timeout=300)
    assert table.returncode == 0, table.stderr
    assert "would delete" in table.stdout and "run succeeded" in table.stdout and str(instance) in table.stdout
    assert "2 stager resource(s); 2 would be deleted; 0 kept" in table.stdout


def test_gold_images_are_kept_and_unfinished_captures_are_not(ws):
    source = ws.instance("r20250101-000000-dead", record=False)
    ws.cloud.shutdown_instance(source, timeout=30)
    gold = ws.cloud.capture_image(source, label="stager-gold-abc", description="gold",
                                  tags=("stager", "recipe:abc", "build:b20250101-000000-beef"))
    gold = ws.cloud.wait_image(gold.id, timeout=30)
    ws.emulator.faults.capture_s = 3600  # this capture never finishes
    half = ws.cloud.capture_image(source, label="stager-gold-def", description="half",
                                  tags=("stager", "recipe:def", "build:b20250101-000001-beef"))
    rows = _by_id(ws.gc())
    assert rows[("image", gold.id)]["decision"] == "kept"
    assert rows[("image", gold.id)]["reason"].startswith("available gold image")
    assert rows[("image", half.id)]["decision"] == "deleted"
    assert [i.id for i in ws.cloud.list_images()] == [gold.id]


def test_ledger_records_of_vanished_resources_are_reconciled(ws):
    run_id = ws.run("succeeded")
    instance = ws.instance(run_id)
    ws.cloud.delete_instance(instance)  # deleted behind the ledger's back
    report = ws.gc()
    assert report["reconciled"] == [{"run": run_id, "kind": "instance", "id": str(instance),
                                     "label": f"stager-{run_id}-train-0", "recorded": True, "error": None}]
    assert ws.ledger.live_resources() == []


def test_a_deletion_that_keeps_failing_exits_1_and_says_how_to_finish(ws):
    run_id = ws.run("succeeded")
    firewall = ws.firewall(run_id)
    ws.emulator.faults.fail_next(100, 500, method="DELETE", path_prefix="/networking/firewalls")
    report = ws.gc(code=1)
    row = _by_id(report)[("firewall", str(firewall))]
    assert row["decision"] == "failed" and f"linode-cli firewalls delete {firewall}" in row["error"]
    assert not report["ok"] and len(ws.ledger.live_resources()) == 1
    assert f"error: 1 leftover(s) could not be deleted (firewall {firewall})" in ws.stderr
    ws.emulator.faults.clear()
    assert ws.gc()["ok"] and ws.cloud.list_firewalls() == []


def test_volumes_go_with_their_instances_but_never_from_under_a_kept_one(ws):
    finished, running = ws.run("succeeded"), ws.run("training")
    doomed, kept = ws.instance(finished), ws.instance(running)
    ws.hold(running)
    ws.emulator.settle()
    attached = ws.cloud.create_volume(label="stager-vol-a", region="us-east", size_gb=10,
                                      tags=stager_tags(finished, timedelta(hours=1)), linode_id=doomed)
    stray = ws.cloud.create_volume(label="stager-vol-b", region="us-east", size_gb=10,
                                   tags=stager_tags("r20250101-000000-dead", timedelta(hours=1)), linode_id=kept)
    for volume in (attached, stray):
        ws.cloud.wait_volume(volume.id, timeout=30)
    rows = _by_id(ws.gc())
    assert rows[("volume", str(attached.id))]["decision"] == "deleted"
    assert rows[("volume", str(stray.id))]["decision"] == "kept"
    assert rows[("volume", str(stray.id))]["reason"] == f"attached to instance {kept}, which stays; detach it first"
    assert [v.id for v in ws.cloud.list_volumes()] == [stray.id] and ws.instances() == {kept}
