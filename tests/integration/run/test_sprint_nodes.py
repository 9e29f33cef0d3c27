"""A sprint of two-node experiments on the local target: one group of nodes, each experiment on both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from run_world import kill_node_one_torchrun

pytestmark = pytest.mark.slow

LONG_EPOCHS = 12  # the first experiment trains long enough to lose a node mid-training


def _two_node_sprint(world, folder: Path) -> Path:
    path = world.pipeline(folder, epochs=1, batches=4, name="sprint-nodes", sprint={
        "experiments": {"list": [{"name": "long", "set": {"trainer.max_epochs": LONG_EPOCHS}},
                                 {"name": "short", "set": {"trainer.max_epochs": 1}}]},
        "plans": ["g1-gpu-rtx6000-1"], "priority": ["long"]},
        budget={"max_usd": 20, "max_hours": 1, "expected_hours": 0.2})
    doc = yaml.safe_load(path.read_text())
    doc["compute"]["nodes"] = 2
    doc["train"]["trainer"]["strategy"] = "ddp"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_two_node_sprint_bills_every_node_and_a_dead_node_fails_only_its_experiment(run_world, tmp_path):
    path = _two_node_sprint(run_world, tmp_path)
    planned = subprocess.run([sys.executable, "-m", "stager", "sprint", "plan", str(path), "--no-probe", "--json",
                              "--at", "now"], cwd=tmp_path, env=run_world.env(), capture_output=True, text=True,
                             timeout=120)
    assert planned.returncode == 0, planned.stderr[-3000:]
    plan = json.loads(planned.stdout)
    [group] = plan["plan"]["instances"]
    price = plan["naive"]["instances"][0]["hourly_usd"] / 2
    assert group["nodes"] == 2 and group["hourly_usd"] == pytest.approx(2 * price)
    assert [e["name"] for e in group["experiments"]] == ["long", "short"]  # one lane: one experiment at a time
    billed_before = run_world.emulator.backend.billing.report()["total_usd"]

    process = run_world.start(tmp_path, str(path), "--no-probe", command=("sprint", "run"))
    try:
        checkpoint = run_world.wait_for_event("train.checkpoint", timeout=150, process=process)
        kill_node_one_torchrun(checkpoint["run_id"])
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
    assert results["short"]["state"] == "succeeded"
    assert results["long"]["instance"] == results["short"]["instance"]  # the same group, not a replacement

    assert run_world.live_instances() == []
    with run_world.ledger() as ledger:
        sprint = ledger.run(sprint_id)
        nodes = [r for r in sprint.resources if r.kind == "instance"]
        assert len(nodes) == 2 and not [r for r in nodes if r.live]
        short = ledger.run(results["short"]["run_id"])
        started = next(e.data for e in short.events if e.kind == "train.started")
        assert started["nodes"] == 2 and sorted(started["instances"]) == sorted(int(r.provider_id) for r in nodes)
    log = (tmp_path / "runs" / results["short"]["run_id"] / "logs" / "train.log").read_text()
    assert "[node 0] " in log and "[node 1] " in log
    assert list((tmp_path / "runs" / results["short"]["run_id"] / "checkpoints").glob("*.ckpt"))
    # The provider billed both nodes' started hour, and the sprint's record says the same.
    billed = run_world.emulator.backend.billing.report()["total_usd"] - billed_before
    assert billed == pytest.approx(2 * price)
    assert sprint.actual_usd == pytest.approx(2 * price)
