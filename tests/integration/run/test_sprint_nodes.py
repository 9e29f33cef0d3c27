"""A sprint of two-node experiments on the local target: one group of nodes, each experiment on both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from run_world import kill_node_one_torchrun

pytestmark = pytest.mark.slow

LONG_EPOCHS = 12  # the first experiment trains long enough to lose a node's job mid-training


def _two_node_sprint(world, folder: Path) -> Path:
    path = world.pipeline(folder, epochs=1, batches=4, name="sprint-nodes", sprint={
        "experiments": {"list": [{"name": "long", "set": {"trainer.max_epochs": LONG_EPOCHS}},
                                 {"name": "doomed", "set": {"trainer.max_epochs": 400}},
                                 {"name": "short", "set": {"trainer.max_epochs": 1}}]},
        "plans": ["g1-gpu-rtx6000-1"], "priority": ["long", "doomed"]},
        budget={"max_usd": 20, "max_hours": 1, "expected_hours": 0.2})
    doc = yaml.safe_load(path.read_text())
    doc["compute"]["nodes"] = 2
    doc["train"]["trainer"]["strategy"] = "ddp"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _started_after(world, process, earlier: set[str]) -> dict:
    """The train.started event of the first experiment not in ``earlier`` (by run id)."""
    while True:
        started = world.wait_for_event("train.started", timeout=150, process=process)
        if started["run_id"] not in earlier:
            return started
        time.sleep(0.2)


def test_a_two_node_sprint_bills_every_node_and_isolates_a_dead_job_and_a_lost_node(run_world, tmp_path):
    path = _two_node_sprint(run_world, tmp_path)
    planned = subprocess.run([sys.executable, "-m", "stager", "sprint", "plan", str(path), "--no-probe", "--json",
                              "--at", "now"], cwd=tmp_path, env=run_world.env(), capture_output=True, text=True,
                             timeout=120)
    assert planned.returncode == 0, planned.stderr[-3000:]
    plan = json.loads(planned.stdout)
    [group] = plan["plan"]["instances"]
    price = plan["naive"]["instances"][0]["hourly_usd"] / 2
    assert group["nodes"] == 2 and group["hourly_usd"] == pytest.approx(2 * price)
    assert [e["name"] for e in group["experiments"]] == ["long", "doomed", "short"]  # one lane: one at a time
    billed_before = run_world.emulator.backend.billing.report()["total_usd"]

    process = run_world.start(tmp_path, str(path), "--no-probe", command=("sprint", "run"))
    try:
        # "long": node 1's job dies; "doomed": node 1's instance disappears; "short" runs on a new group.
        checkpoint = run_world.wait_for_event("train.checkpoint", timeout=150, process=process)
        kill_node_one_torchrun(checkpoint["run_id"])
        doomed = _started_after(run_world, process, {checkpoint["run_id"]})
        run_world.emulator.vanish(doomed["instances"][1])
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err[-4000:]  # one experiment succeeded
    sprint_id, state = out.split()[-2:]
    assert state == "succeeded"
    results = {r["experiment"]: r for r in json.loads((tmp_path / "runs" / sprint_id / "results.json")
                                                       .read_text())["experiments"]}
    assert results["long"]["state"] == "failed" and "node 1 (instance" in results["long"]["reason"]
    assert results["doomed"]["state"] == "failed" and "disappeared" in results["doomed"]["reason"]
    assert results["short"]["state"] == "succeeded"
    assert results["long"]["instance"] == results["doomed"]["instance"] != results["short"]["instance"]

    assert run_world.live_instances() == []
    with run_world.ledger() as ledger:
        sprint = ledger.run(sprint_id)
        nodes = [r for r in sprint.resources if r.kind == "instance"]
        assert len(nodes) == 4 and not [r for r in nodes if r.live]  # the group, then its replacement
        assert sorted(r.label.rsplit("-", 2)[-2] for r in nodes) == ["i1n0", "i1n1", "i1r1n0", "i1r1n1"]
        short = ledger.run(results["short"]["run_id"])
        started = next(e.data for e in short.events if e.kind == "train.started")
        replacement = sorted(int(r.provider_id) for r in nodes if "-i1r1n" in r.label)
        assert started["nodes"] == 2 and sorted(started["instances"]) == replacement
    log = (tmp_path / "runs" / results["short"]["run_id"] / "logs" / "train.log").read_text()
    assert "[node 0] " in log and "[node 1] " in log
    assert list((tmp_path / "runs" / results["short"]["run_id"] / "checkpoints").glob("*.ckpt"))
    # The provider billed every node's started hour, and the sprint's record says the same.
    billed = run_world.emulator.backend.billing.report()["total_usd"] - billed_before
    assert billed == pytest.approx(4 * price)
    assert sprint.actual_usd == pytest.approx(4 * price)
