"""`stager sprint run` end to end on the local target: real instances over SSH, real training, the emulator's bill.

Each test runs a real `stager sprint run` subprocess against the session's
emulator (see conftest.py), so the leak checks after each test hold here too:
no instance, firewall or key left, no secret in a file or a process's arguments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _sprint_file(world, folder: Path, name: str, sprint: dict, *, epochs: int = 1, batches: int | None = 3,
                 budget: dict | None = None) -> Path:
    return world.pipeline(folder, epochs=epochs, batches=batches, name=name, sprint=sprint,
                          budget=budget or {"max_usd": 20, "max_hours": 1, "expected_hours": 0.05})


def _sprint_run(world, folder: Path, path: Path, *args: str, timeout: float = 300):
    return world.run(folder, str(path), "--no-probe", *args, command=("sprint", "run"), timeout=timeout)


def _sprint_meddled(world, folder: Path, path: Path, event: str, meddle) -> tuple[int, str, str]:
    """Start ``stager sprint run``, wait for its ``event``, call ``meddle(event data, process)``, let it end."""
    process = world.start(folder, str(path), "--no-probe", command=("sprint", "run"))
    try:
        meddle(world.wait_for_event(event, process=process), process)
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out, err


def _stager(world, folder: Path, *args: str) -> str:
    """stdout of a short ``stager`` command in ``folder``, which must succeed."""
    done = subprocess.run([sys.executable, "-m", "stager", *args], cwd=folder, env=world.env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _sprint_record(world, sprint_id: str):
    with world.ledger() as ledger:
        record = ledger.run(sprint_id)
        experiments = [ledger.run(s.id) for s in ledger.runs(sprint=sprint_id)]
    return record, experiments


def _experiment_name(record) -> str:
    return next(e.data["experiment"] for e in record.events if e.kind == "sprint.experiment")


def _results(folder: Path, sprint_id: str) -> dict:
    return json.loads((folder / "runs" / sprint_id / "results.json").read_text())


def test_a_sweep_costs_what_its_plan_said_on_reused_instances(run_world, tmp_path):
    # Estimated at 0.45 h each with a 1 h deadline, two experiments fit one GPU's hour: the plan rents
    # a 2-GPU instance whose GPUs each serve two experiments in turn, side by side.
    grid = {"model.init_args.hidden": [16, 32], "model.init_args.lr": [0.001, 0.003]}
    path = _sprint_file(run_world, tmp_path, "sprint-cost", {
        "experiments": {"grid": grid}, "plans": ["g1-gpu-rtx6000-1", "g1-gpu-rtx6000-2"], "deadline": "1h"},
        budget={"max_usd": 20, "max_hours": 1, "expected_hours": 0.45})
    plan = json.loads(_stager(run_world, tmp_path, "sprint", "plan", str(path), "--no-probe", "--json", "--at", "now"))
    assert len(plan["experiments"]) == 4 and not plan["plan"]["unplaced"]
    assert (plan["total_usd"], plan["naive_usd"]) == (3.0, 6.0)  # 2 GPU-hours instead of 4
    lanes = {(i["index"], x["gpu"]) for i in plan["plan"]["instances"] for x in i["experiments"]}
    assert len(lanes) == 2 and all(len(i["experiments"]) > 1 for i in plan["plan"]["instances"])
    billed_before = run_world.emulator.backend.billing.report()["total_usd"]

    done = _sprint_run(run_world, tmp_path, path)

    assert done.returncode == 0, done.stderr[-4000:]
    sprint_id, state = done.stdout.split()[-2:]
    assert state == "succeeded"
    billed = round(run_world.emulator.backend.billing.report()["total_usd"] - billed_before, 2)
    assert billed == plan["total_usd"]  # the provider's own bill, to the cent
    assert billed <= plan["naive_usd"]
    record, experiments = _sprint_record(run_world, sprint_id)
    instances = [r for r in record.resources if r.kind == "instance"]
    assert len(instances) == len(plan["plan"]["instances"]) and all(not r.live for r in instances)
    assert round(record.actual_usd, 2) == plan["total_usd"]
    # every experiment is a run of its own, linked to the sprint, trained on one of the sprint's instances
    assert sorted(_experiment_name(e) for e in experiments) == [f"e0{i}" for i in range(1, 5)]
    started = {_experiment_name(e): next(ev.data for ev in e.events if ev.kind == "train.started")
               for e in experiments}
    assert {s["instance"] for s in started.values()} == {int(r.provider_id) for r in instances}
    for planned in plan["plan"]["instances"]:  # each planned instance is one real instance, created once
        names = [x["name"] for x in planned["experiments"]]
        assert len({started[n]["instance"] for n in names}) == 1
        assert [started[n]["gpu"] for n in names] == [x["gpu"] for x in planned["experiments"]]
    assert all(e.state == "succeeded" and e.sprint_id == sprint_id for e in experiments)
    assert round(sum(e.actual_usd for e in experiments), 2) == plan["total_usd"]
    for experiment in experiments:  # results pulled per experiment
        folder = tmp_path / "runs" / experiment.id
        assert any((folder / "checkpoints").rglob("*.ckpt")), experiment.id
        assert (folder / "metrics.jsonl").stat().st_size > 0
        hidden = experiment.spec["train"]["model"]["init_args"]["hidden"]
        assert hidden == dict(next(ev.data for ev in experiment.events if ev.kind == "sprint.experiment")
                              ["overrides"])["model.init_args.hidden"]
    results = _results(tmp_path, sprint_id)
    assert {row["state"] for row in results["experiments"]} == {"succeeded"}
    shown = json.loads(_stager(run_world, tmp_path, "sprint", "status", sprint_id, "--json"))
    assert (shown["done"], shown["queued"], shown["spent_usd"]) == (4, 0, plan["total_usd"])
    assert shown["best"]["name"] in {_experiment_name(e) for e in experiments}


def test_a_failed_experiment_is_recorded_and_the_rest_go_on(run_world, tmp_path):
    path = _sprint_file(run_world, tmp_path, "sprint-isolated", {"experiments": {"list": [
        {"name": "first", "set": {"model.init_args.hidden": 16}},
        {"name": "broken", "set": {"data.init_args.data_dir": str(tmp_path / "no-such-data")}},
        {"name": "last", "set": {"model.init_args.hidden": 24}},
    ]}})

    done = _sprint_run(run_world, tmp_path, path)

    assert done.returncode == 0, done.stderr[-4000:]
    sprint_id = done.stdout.split()[-2]
    record, experiments = _sprint_record(run_world, sprint_id)
    states = {_experiment_name(e): e.state for e in experiments}
    assert states == {"first": "succeeded", "broken": "failed", "last": "succeeded"}
    broken = next(e for e in experiments if _experiment_name(e) == "broken")
    assert "exited with" in broken.transitions[-1].reason
    assert len([r for r in record.resources if r.kind == "instance"]) == 1  # the instance went on serving


def test_a_sprint_whose_every_experiment_fails_fails(run_world, tmp_path):
    path = _sprint_file(run_world, tmp_path, "sprint-all-broken", {"experiments": {"list": [
        {"name": "broken", "set": {"data.init_args.data_dir": str(tmp_path / "no-such-data")}}]}})

    done = _sprint_run(run_world, tmp_path, path)

    assert done.returncode == 1, done.stderr[-4000:]
    sprint_id, state = done.stdout.split()[-2:]
    assert state == "failed"
    record, experiments = _sprint_record(run_world, sprint_id)
    assert "no experiment succeeded (broken failed)" in record.transitions[-1].reason
    assert [e.state for e in experiments] == ["failed"] and not record.live_resources


def test_no_gpu_capacity_records_why_each_experiment_never_ran(run_world, tmp_path):
    run_world.emulator.faults.gpu_capacity["us-east"] = 0
    path = _sprint_file(run_world, tmp_path, "sprint-no-capacity", {"experiments": {"grid": {
        "model.init_args.hidden": [16, 24]}}})

    done = _sprint_run(run_world, tmp_path, path)

    assert done.returncode == 1, done.stderr[-4000:]
    record, experiments = _sprint_record(run_world, done.stdout.split()[-2])
    assert record.state == "failed" and not record.live_resources
    for experiment in experiments:
        reason = experiment.transitions[-1].reason
        assert experiment.state == "aborted" and "its instance failed" in reason and "us-east" in reason, reason


def test_the_budget_stops_the_running_experiment_and_starts_no_more(run_world, tmp_path):
    # The first experiment trains long; once it does, the provider's clock jumps 57 minutes, so the next
    # billed hour (which would cross the $2 budget) is under 5 minutes away.
    path = _sprint_file(run_world, tmp_path, "sprint-capped", {"experiments": {"list": [
        {"name": "long", "set": {"trainer.max_epochs": 400, "trainer.limit_train_batches": 20}},
        {"name": "second", "set": {"model.init_args.hidden": 16}},
        {"name": "third", "set": {"model.init_args.hidden": 24}},
    ]}}, budget={"max_usd": 2, "max_hours": 1, "expected_hours": 0.05})
    seen = {}

    def look_then_jump(*_) -> None:
        seen.update(json.loads(_stager(run_world, tmp_path, "sprint", "status", "--json")))
        run_world.emulator.backend.clock.advance(seconds=57 * 60)

    code, out, err = _sprint_meddled(run_world, tmp_path, path, "train.epoch", look_then_jump)
    assert code == 1, err[-4000:]
    # while "long" trained: one running, two queued, one started hour spent of the $2
    assert (seen["running"], seen["queued"], seen["done"]) == (1, 2, 0), seen
    assert (seen["spent_usd"], seen["left_usd"]) == (1.5, 0.5)
    sprint_id, state = out.split()[-2:]
    assert state == "aborted"
    record, experiments = _sprint_record(run_world, sprint_id)
    by_name = {_experiment_name(e): e for e in experiments}
    assert by_name["long"].state == "aborted" and "budget.max_usd" in by_name["long"].transitions[-1].reason
    assert any(a.path.startswith("checkpoints/") for a in by_name["long"].artifacts)  # its last checkpoint kept
    for name in ("second", "third"):
        assert by_name[name].state == "aborted"
        assert not [e for e in by_name[name].events if e.kind == "train.started"]  # never started
    assert record.actual_usd <= 2


def test_successive_halving_stops_the_experiments_that_do_not_learn(run_world, tmp_path):
    # lr 0 learns nothing: at the first rung its validation loss is the worst, so it is stopped there,
    # while the experiments that learn run all their epochs.
    path = _sprint_file(run_world, tmp_path, "sprint-halving", {
        "experiments": {"list": [
            {"name": "good", "set": {"model.init_args.lr": 0.003}},
            {"name": "better", "set": {"model.init_args.lr": 0.01}},
            {"name": "frozen", "set": {"model.init_args.lr": 0.0, "trainer.max_epochs": 200}},
            {"name": "frozen2", "set": {"model.init_args.lr": 0.0, "model.init_args.hidden": 16,
                                        "trainer.max_epochs": 200}},
        ]},
        "halving": {"metric": "val_loss", "mode": "min", "every_epochs": 1, "keep": 0.5, "min_peers": 2}},
        epochs=2, batches=5)

    done = _sprint_run(run_world, tmp_path, path)

    assert done.returncode == 0, done.stderr[-4000:]
    _record, experiments = _sprint_record(run_world, done.stdout.split()[-2])
    by_name = {_experiment_name(e): e for e in experiments}
    for name in ("frozen", "frozen2"):
        reason = by_name[name].transitions[-1].reason
        assert by_name[name].state == "aborted" and reason.startswith("halved at epoch 1"), reason
        epochs = [e for e in by_name[name].events if e.kind == "train.epoch"]
        assert len(epochs) < 200
    assert by_name["good"].state == "succeeded"  # the first at its rung: nothing to compare with yet
    assert len([e for e in by_name["good"].events if e.kind == "train.epoch"]) == 2
    rungs = [e.data for e in by_name["frozen"].events if e.kind == "sprint.rung"]
    assert rungs[0]["stop"] and rungs[0]["rank"] > rungs[0]["keep"]


def test_a_lost_instance_is_replaced_for_the_experiments_it_had_left(run_world, tmp_path):
    path = _sprint_file(run_world, tmp_path, "sprint-replaced", {"experiments": {"list": [
        {"name": "doomed", "set": {"trainer.max_epochs": 400, "trainer.limit_train_batches": 20}},
        {"name": "after", "set": {"model.init_args.hidden": 16}},
    ]}})
    code, out, err = _sprint_meddled(run_world, tmp_path, path, "train.started",
                                     lambda started, _: run_world.emulator.vanish(started["instance"]))
    assert code == 0, err[-4000:]
    record, experiments = _sprint_record(run_world, out.split()[-2])
    by_name = {_experiment_name(e): e for e in experiments}
    assert by_name["doomed"].state == "failed" and "disappeared" in by_name["doomed"].transitions[-1].reason
    assert by_name["after"].state == "succeeded"
    instances = [r for r in record.resources if r.kind == "instance"]
    assert len(instances) == 2 and instances[1].label.endswith("-i1r1-0")  # the replacement
    served = next(e.data["instance"] for e in by_name["after"].events if e.kind == "train.started")
    assert str(served) == instances[1].provider_id


def test_ctrl_c_stops_the_lanes_tears_everything_down_and_records_every_experiment(run_world, tmp_path):
    path = _sprint_file(run_world, tmp_path, "sprint-interrupted", {"experiments": {"list": [
        {"name": "long", "set": {"trainer.max_epochs": 400, "trainer.limit_train_batches": 20}},
        {"name": "queued", "set": {"model.init_args.hidden": 16}},
    ]}})
    code, out, err = _sprint_meddled(run_world, tmp_path, path, "train.epoch",
                                     lambda _, process: os.kill(process.pid, signal.SIGINT))
    assert code == 130, err[-4000:]
    sprint_id, state = out.split()[-2:]
    assert state == "aborted"
    record, experiments = _sprint_record(run_world, sprint_id)
    assert not record.live_resources
    assert {_experiment_name(e): e.state for e in experiments} == {"long": "aborted", "queued": "aborted"}

