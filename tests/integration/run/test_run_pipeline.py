"""`stager run` end to end on the local target: a real subprocess, real SSH, real S3, real training."""

from __future__ import annotations

import json
import platform

import torch
from run_world import run_json

import stager
from stager.hashing import sha256_file


def test_a_run_trains_collects_and_leaves_nothing(run_world, two_epoch_run):
    run_folder, done, _ = two_epoch_run  # the session's run of 2 epochs x 20 batches, shared read-only
    assert done.returncode == 0, done.stderr[-3000:]
    status = run_json(run_folder)
    assert status["state"] == "succeeded" and status["resources"] == []
    folder = run_folder / "runs" / status["run_id"]

    # what a user opens afterwards
    assert (folder / "pipeline.yaml").is_file() and (folder / "train.yaml").is_file()
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records][0] == "start" and records[-1]["event"] == "end"
    assert records[-1]["step"] == 40  # 2 epochs x 20 batches: every step ran, none twice
    assert (folder / "checkpoints" / "last.ckpt").is_file()
    assert list((folder / "out").rglob("metrics.csv"))
    assert "[train] epoch 2/2 step 40/40" in done.stderr and "so far" in done.stderr

    # the ledger tells the same story
    with run_world.ledger() as ledger:
        record = ledger.run(status["run_id"])
        assert [t.state for t in record.transitions] == [
            "pending", "validating", "syncing", *(["imaging"] if "imaging" in
                                                  [t.state for t in record.transitions] else []),
            "provisioning", "training", "collecting", "tearing_down", "succeeded"]
        assert ledger.live_resources(status["run_id"]) == []
        kinds = sorted({r.kind for r in record.resources})
        assert kinds == ["bucket_key", "firewall", "instance"]
        artifacts = {a.path: a for a in record.artifacts}
        last = artifacts["checkpoints/last.ckpt"]
        assert last.sha256 == sha256_file(folder / "checkpoints" / "last.ckpt")
        assert last.location.startswith(f"s3://stager-data-runs/runs/{status['run_id']}/")
        assert record.datasets and record.datasets[0].ok
        ended = [e.data for e in record.events if e.kind == "train.ended"]
        assert ended[0]["exit_code"] == 0 and "val_loss" in ended[0]["metrics"]
        # What the instance trained with, package by package, as its own Python reported it.
        environment = record.instance_environment
        assert environment["packages"]["torch"] == torch.__version__
        assert environment["packages"]["stager"] == stager.__version__
        assert environment["python"] == platform.python_version()
        assert ledger.verify_chain(status["run_id"]) == []


def test_dry_run_prints_the_plan_and_touches_nothing(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path)
    with run_world.ledger() as ledger:
        before = len(ledger.runs())
    done = run_world.run(tmp_path, str(pipeline), "--dry-run")
    assert done.returncode == 0, done.stderr
    for expected in ("stages: pending -> validating -> syncing", "image: cpu.yaml recipe sha256",
                     "data mnist:", "instances: 1 x g1-gpu-rtx6000-1 in us-east", "estimated $"):
        assert expected in done.stdout
    assert not (tmp_path / "runs").exists()
    with run_world.ledger() as ledger:
        assert len(ledger.runs()) == before
    assert run_world.live_instances() == []


def test_over_budget_is_refused_unless_yes(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, epochs=1, batches=5,
                                  budget={"max_usd": 2, "max_hours": 4, "expected_hours": 3})
    done = run_world.run(tmp_path, str(pipeline))
    assert done.returncode == 2
    assert "over the budget of $2.00 (budget.max_usd)" in done.stderr and "--yes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
    started = run_world.run(tmp_path, str(pipeline), "--yes")
    assert started.returncode == 0, started.stderr[-3000:]
    assert run_json(tmp_path)["state"] == "succeeded"


def test_a_misspelt_plan_is_named_with_its_line(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, compute={"type": "g1-gpu-rtx600-1", "region": "us-east"})
    done = run_world.run(tmp_path, str(pipeline))
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "pipeline.yaml:" in line and "compute.type" in line and "g1-gpu-rtx6000-1" in line


def test_bad_data_stops_the_run_before_anything_is_rented(run_world, tmp_path):
    import numpy as np

    data = tmp_path / "bad"
    data.mkdir()
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    x[3, 1] = np.nan
    np.savez(data / "train.npz", x=x, y=np.arange(64) % 4)
    np.savez(data / "val.npz", x=x[:16], y=np.arange(16) % 4)
    pipeline = run_world.pipeline(tmp_path)
    text = pipeline.read_text().replace(str(run_world.data), str(data)).replace("max: 9", "max: 3")
    pipeline.write_text(text)
    done = run_world.run(tmp_path, str(pipeline))
    assert done.returncode == 1
    assert "failed validation" in done.stderr and "nan" in done.stderr.lower()
    status = run_json(tmp_path)
    with run_world.ledger() as ledger:
        record = ledger.run(status["run_id"])
        assert record.state == "failed"
        assert record.resources == []  # not even a firewall: nothing was paid for
        assert "provisioning" not in [t.state for t in record.transitions]


def test_a_rehearsal_runs_first_on_a_cpu_plan(run_world, tmp_path):
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path, epochs=1, batches=5)), "--rehearse")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rehearsal passed" in done.stderr
    with run_world.ledger() as ledger:
        record = ledger.run(run_json(tmp_path)["run_id"])
        plans = [r.plan for r in record.resources if r.kind == "instance"]
        assert plans == ["g6-standard-2", "g1-gpu-rtx6000-1"]
        started = [e.data for e in record.events if e.kind == "train.started"]
        assert [s["rehearsal"] for s in started] == [True, False]


def test_datasets_on_a_volume_are_read_from_it(run_world, tmp_path):
    pipeline = run_world.pipeline(tmp_path, epochs=1, batches=5,
                                  storage={"via": "volume", "bucket": "stager-data",
                                           "volume": {"size_gb": 10, "label": "mnist-test-vol"}})
    done = run_world.run(tmp_path, str(pipeline))
    assert done.returncode == 0, done.stderr[-3000:]
    status = run_json(tmp_path)
    folder = tmp_path / "runs" / status["run_id"]
    job = json.loads((folder / "job.json").read_text())
    assert job["datasets"] == {}  # nothing pulled from Object Storage: the volume holds the data
    import yaml

    data_dir = yaml.safe_load((folder / "train.yaml").read_text())["data"]["init_args"]["data_dir"]
    assert data_dir.endswith("/mnt/mnist-test-vol")
    volumes = [v for v in run_world.emulator.backend.volumes.list_volumes() if v.label == "mnist-test-vol"]
    assert len(volumes) == 1 and volumes[0].linode_id is None  # kept for the next run, detached
    with run_world.ledger() as ledger:
        events = [e.data for e in ledger.run(status["run_id"]).events if e.kind == "data.volume"]
        assert events == [{"dataset": "mnist", "volume": volumes[0].id, "label": "mnist-test-vol"}]


def test_a_bad_ssh_source_is_refused_before_anything_is_spent(run_world, tmp_path):
    done = run_world.run(tmp_path, str(run_world.pipeline(tmp_path)), STAGER_SSH_FROM="127.0.0.1/33")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: STAGER_SSH_FROM: '127.0.0.1/33'")
    assert not (tmp_path / "runs").exists()
