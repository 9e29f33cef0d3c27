"""`stager data validate|sync|pull` as a user runs them: exit codes, manifests, and a round trip through S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run(*args: str, home: Path, cwd: Path, code: int = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "stager", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "STAGER_HOME": str(home), **(env or {})}, timeout=180)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def make_dataset(root: Path, *, nan_at: int | None = None, leak: bool = False) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    x_train = rng.random((200, 8), dtype=np.float32)
    y_train = np.arange(200) % 4
    x_val = rng.random((40, 8), dtype=np.float32)
    y_val = np.arange(40) % 4
    if nan_at is not None:
        x_train[nan_at, 3] = np.nan
    if leak:
        x_val[7] = x_train[11]
    np.savez(root / "train.npz", x=x_train, y=y_train)
    np.savez(root / "val.npz", x=x_val, y=y_val)
    return root


def test_validate_clean_then_defective(tmp_path):
    home = tmp_path / "home"
    data = make_dataset(tmp_path / "ds")
    clean = run("data", "validate", str(data), "--json", home=home, cwd=tmp_path)
    report = json.loads(clean.stdout)
    manifest = report["manifest"]
    saved = json.loads((home / "datasets" / "ds" / f"{manifest}.json").read_text())
    assert saved["validation"]["ok"] is True
    assert [f[0] for f in saved["files"]] == ["train.npz", "val.npz"]

    make_dataset(data, nan_at=17, leak=True)
    bad = run("data", "validate", str(data), "--report", str(tmp_path / "r.json"), home=home, cwd=tmp_path, code=1)
    assert "error:" in bad.stderr.splitlines()[-1] and "error-level" in bad.stderr
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    finite = next(f for f in findings if f["check"] == "finite")
    assert finite["split"] == "train" and 17 in finite["indices"]
    leakage = next(f for f in findings if f["check"] == "leakage")
    assert leakage["level"] == "error"
    assert "finite" in bad.stdout and "leakage" in bad.stdout  # the table names the checks


def test_validate_settings_from_a_pipeline(tmp_path):
    home = tmp_path / "home"
    data = make_dataset(tmp_path / "ds", leak=True)
    pipeline = tmp_path / "exp.yaml"
    pipeline.write_text("name: exp\ndata:\n  mnist:\n    path: ds\n    validate: {leakage: warn}\n")
    proc = run("data", "validate", str(data), "--config", str(pipeline), "--json", home=home, cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert report["checks_run"]["leakage"] == "warn"
    assert (home / "datasets" / "mnist" / "latest.json").is_file()

    pipeline.write_text("name: exp\ndata:\n  mnist:\n    path: ds\n    validate: {leakage: fatal}\n")
    wrong = run("data", "validate", str(data), "--config", str(pipeline), home=home, cwd=tmp_path, code=2)
    line = wrong.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {pipeline}:5:") and "data.mnist.validate.leakage" in line


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_validate_bad_paths_exit_2(tmp_path, case):
    target = tmp_path / "nope"
    if case == "empty":
        target.mkdir()
    proc = run("data", "validate", str(target), home=tmp_path / "home", cwd=tmp_path, code=2)
    assert len(proc.stderr.strip().splitlines()) == 1 and str(target) in proc.stderr


def test_sync_and_pull_round_trip_on_the_local_target(tmp_path):
    from stager.emulator import Emulator

    home = tmp_path / "home"
    data = make_dataset(tmp_path / "ds")
    with Emulator(home / "emulator", rate_limits=False) as emulator:
        client = emulator.client()
        client.object_storage.bucket_create("us-east", "stager-data")
        run("data", "validate", str(data), home=home, cwd=tmp_path)
        sent = run("data", "sync", str(data), "s3://stager-data/mnist", home=home, cwd=tmp_path)
        assert "sent 2 file(s)" in sent.stdout
        again = run("data", "sync", str(data), "s3://stager-data/mnist", home=home, cwd=tmp_path)
        assert "sent 0 file(s)" in again.stdout and "2 unchanged" in again.stdout

        pulled = tmp_path / "pulled"
        run("data", "pull", "s3://stager-data/mnist", str(pulled), home=home, cwd=tmp_path)
        for name in ("train.npz", "val.npz"):
            assert (pulled / name).read_bytes() == (data / name).read_bytes()

        missing = run("data", "sync", str(data), "s3://no-such-bucket/x", "--no-create-bucket", home=home,
                      cwd=tmp_path, code=2)
        assert "no-such-bucket" in missing.stderr.strip().splitlines()[-1]
        made = run("data", "sync", str(data), "s3://fresh-bucket/x", home=home, cwd=tmp_path)
        assert "created bucket fresh-bucket" in made.stderr and "sent 2 file(s)" in made.stdout


def test_sync_to_a_volume(tmp_path):
    from stager.emulator import Emulator

    home = tmp_path / "home"
    data = make_dataset(tmp_path / "ds")
    with Emulator(home / "emulator", rate_limits=False) as emulator:
        first = run("data", "sync", str(data), "volume://mnist-data", "--size-gb", "10", home=home, cwd=tmp_path)
        assert "sent 2 file(s)" in first.stdout and "on volume mnist-data" in first.stdout
        again = run("data", "sync", str(data), "volume://mnist-data", "--size-gb", "10", home=home, cwd=tmp_path)
        assert "sent 0 file(s)" in again.stdout
        volume = emulator.client().volumes()[0]
        base = emulator.backend.volumes.data_dir(volume.id)
        assert (base / "train.npz").read_bytes() == (data / "train.npz").read_bytes()
        assert volume.linode_id is None, "the volume is left detached for GPU instances"
        emulator.settle()
        assert emulator.backend.instances.list_instances() == [], "the staging instance is deleted"
