"""`stager run` under the emulator's faults: each ends with nothing rented and a ledger that tells the truth."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from run_world import REPO, process_arguments_with_secrets, run_json


def _state(world, run_id: str) -> tuple[str, str | None]:
    with world.ledger() as ledger:
        record = ledger.run(run_id)
        return record.state, record.transitions[-1].reason


def _metrics(tmp_path, run_id: str) -> list[dict]:
    text = (tmp_path / "runs" / run_id / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _wait_for_an_instance(world, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not world.live_instances():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no instance was created"
        time.sleep(0.1)


def test_a_failed_boot_is_retried_on_a_fresh_instance(run_world, tmp_path):
    run_world.emulator.faults.failing_boots = 1
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path, epochs=1, batches=5)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "did not boot" in done.stderr
    with run_world.ledger() as ledger:
        record = ledger.run(run_json(tmp_path)["run_id"])
        assert len([r for r in record.resources if r.kind == "instance"]) == 2  # the failed one, then the good one


def test_boots_that_keep_failing_end_in_a_clean_failure(run_world, tmp_path):
    run_world.emulator.faults.failing_boots = 5
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path, epochs=1, batches=5)))
    assert done.returncode == 1
    assert "failed to boot 2 times" in done.stderr and "Traceback" not in done.stderr
    assert _state(run_world, run_json(tmp_path)["run_id"])[0] == "failed"


def test_bursts_of_429_and_503_are_waited_out(run_world, tmp_path):
    run_world.emulator.faults.fail_next(2, 503)
    run_world.emulator.faults.fail_next(1, 429, retry_after=1)
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path, epochs=1, batches=5)))
    assert done.returncode == 0, done.stderr[-3000:]


def test_no_gpu_capacity_names_the_alternatives(run_world, tmp_path):
    run_world.emulator.faults.gpu_capacity["us-east"] = 0
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path, epochs=1, batches=5)))
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "g1-gpu-rtx6000-1" in message and "us-east" in message
    assert "$" in message  # the alternatives come with their prices
    assert _state(run_world, run_json(tmp_path)["run_id"])[0] == "failed"


def test_an_ssh_drop_mid_training_loses_no_step(run_world, tmp_path):
    process = run_world.start(tmp_path, str(run_world.pipeline(tmp_path, epochs=4, batches=60)))
    started = run_world.wait_for_event("train.epoch", process=process)
    assert process_arguments_with_secrets(run_world) == []
    run_world.emulator.drop_ssh(run_world.wait_for_event("train.started")["instance"])
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-3000:]
    records = _metrics(tmp_path, started["run_id"])
    assert [r["event"] for r in records].count("start") == 1  # training was not started again
    steps = [r["step"] for r in records if r["event"] == "metrics"]
    assert steps == sorted(set(steps))  # no line shown twice
    assert records[-1] == {**records[-1], "event": "end", "step": 240}
    assert "reconnected to" in (tmp_path / "runs" / started["run_id"] / "logs" / "remote.log").read_text()


def test_a_vanished_instance_fails_the_run_and_resume_finishes_it(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, epochs=4, batches=40)
    process = run_world.start(tmp_path, str(pipeline))
    pushed = run_world.wait_for_event("train.checkpoint", process=process)
    run_id = pushed["run_id"]
    run_world.emulator.vanish(run_world.wait_for_event("train.started")["instance"])
    out, err = process.communicate(timeout=240)
    assert process.returncode == 1
    assert "disappeared mid-training" in err and f"--resume {run_id}" in err
    assert _state(run_world, run_id)[0] == "failed"

    resumed = run_world.run(tmp_path, str(pipeline), "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _state(run_world, run_id)[0] == "succeeded"
    starts = [r for r in _metrics(tmp_path, run_id) if r["event"] == "start"]
    assert len(starts) == 2 and starts[1]["global_step"] > 0  # the second attempt began from a checkpoint
    assert _metrics(tmp_path, run_id)[-1]["step"] == 160


@pytest.mark.parametrize(("stage", "sig"), [("provisioning", signal.SIGINT), ("training", signal.SIGINT),
                                            ("training", signal.SIGTERM)])
def test_an_interrupt_aborts_and_tears_down(run_world, tmp_path, stage, sig):
    if stage == "provisioning":
        run_world.emulator.faults.boot_s = 3  # the instance exists, the run waits for it to boot
    process = run_world.start(tmp_path, str(run_world.pipeline(tmp_path, epochs=20, batches=60)))
    if stage == "provisioning":
        _wait_for_an_instance(run_world, process)
    else:
        run_world.wait_for_event("train.epoch", process=process)
    os.kill(process.pid, sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    state, reason = _state(run_world, run_json(tmp_path)["run_id"])
    assert state == "aborted" and "interrupted" in reason
    assert "Traceback" not in err


def test_max_usd_on_the_providers_clock_aborts(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, epochs=20, batches=60,
                                  budget={"max_usd": 5, "max_hours": 10, "expected_hours": 1})
    process = run_world.start(tmp_path, str(pipeline))
    started = run_world.wait_for_event("train.epoch", process=process)
    run_world.emulator.clock.advance(hours=3)  # $1.50/h: 4 started hours are $6
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err[-3000:]
    state, reason = _state(run_world, started["run_id"])
    assert state == "aborted" and "budget.max_usd" in reason
    assert (tmp_path / "runs" / started["run_id"] / "checkpoints" / "last.ckpt").is_file()  # the last one kept


def test_a_killed_controller_leaves_its_resources_to_gc(run_world, tmp_path):
    import subprocess
    import sys

    process = run_world.start(tmp_path, str(run_world.pipeline(tmp_path, epochs=20, batches=60)))
    started = run_world.wait_for_event("train.epoch", process=process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert run_world.live_instances()  # SIGKILL runs no finally: the instance is still there
    gc = subprocess.run([sys.executable, "-m", "stager", "gc"], env=run_world.env(), capture_output=True, text=True,
                        timeout=120)
    assert gc.returncode == 0, gc.stderr[-3000:]
    assert run_world.live_instances() == []
    state, reason = _state(run_world, started["run_id"])
    assert state == "failed" and "gc" in reason
    with run_world.ledger() as ledger:
        assert ledger.live_resources(started["run_id"]) == []


def test_an_interrupt_while_imaging_deletes_the_builder(run_world, tmp_path):
    import shutil

    recipe = tmp_path / "slow.yaml"  # a recipe no image holds yet, so the run must build one
    recipe.write_text((REPO / "images" / "cpu.yaml").read_text().replace("name: cpu", "name: cpu-interrupted"))
    shutil.copytree(REPO / "images" / "smoke", tmp_path / "smoke")
    pipeline = run_world.pipeline(tmp_path, image=str(recipe))
    run_world.emulator.faults.boot_s = 3  # the builder exists and boots slowly
    _interrupt_while_booting(run_world, tmp_path, pipeline, "builder")
    assert _state(run_world, run_json(tmp_path)["run_id"])[0] == "aborted"


def test_an_interrupt_while_syncing_to_a_volume_deletes_the_staging_instance(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, storage={"via": "volume", "bucket": "stager-data",
                                                     "volume": {"size_gb": 10, "label": "mnist-interrupted"}})
    run_world.emulator.faults.boot_s = 3  # the staging instance exists and boots slowly
    _interrupt_while_booting(run_world, tmp_path, pipeline, "staging")
    with run_world.ledger() as ledger:
        record = ledger.run(run_json(tmp_path)["run_id"])
        assert record.state == "aborted"
        assert [t.state for t in record.transitions][-3:] == ["syncing", "tearing_down", "aborted"]


def _interrupt_while_booting(world, folder, pipeline, role: str) -> None:
    """Start the run, Ctrl-C it once its ``role`` instance exists, and expect exit 130."""
    process = world.start(folder, str(pipeline))
    _wait_for_an_instance(world, process)
    assert any(role in label for label in world.live_instances())
    os.kill(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
