"""`stager runs export`: a real run packed into a tarball, unpacked elsewhere, and checked file by file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import typer
from run_world import find_secrets
from typer.testing import CliRunner

from stager.audit.export import check_export, recompute_chain
from stager.cli.runs_export import export, verify_export
from stager.hashing import sha256_file
from stager.run.archive import safe_extract
from stager.storage.manifest import Manifest


def _export(world, *args: str):
    app = typer.Typer()
    app.command("export")(export)
    app.command("verify-export")(verify_export)
    return CliRunner().invoke(app, ["export", *args], env={"STAGER_HOME": str(world.home)})


def _rewritten(source, target, change) -> None:
    """A copy of the tar.gz ``source`` with each member's bytes passed through ``change(name, data)``."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            data = change(member.name, old.extractfile(member).read())
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


def test_an_export_holds_the_run_and_checks_out_and_a_changed_one_does_not(run_world, small_run, tmp_path):
    folder, run_id = small_run  # a small real run, shared read-only with other modules
    runs_dir = folder / "runs"
    archive = tmp_path / "out" / "run.tar.gz"
    done = _export(run_world, run_id, "-o", str(archive), "--runs-dir", str(runs_dir))
    assert done.exit_code == 0, done.output
    assert done.stderr == "" and f"run {run_id}" in done.stdout
    with run_world.ledger() as ledger:
        record = ledger.run(run_id)

    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert all(name.startswith(f"{run_id}/") and ".." not in name.split("/") for name in names)
    assert names[:-1] == sorted(names[:-1]) and names[-1] == f"{run_id}/EXPORT.json"
    assert {(m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, "", "", 0o644)}

    unpacked = tmp_path / "elsewhere"
    safe_extract(archive, unpacked)
    top = unpacked / run_id
    index = json.loads((top / "EXPORT.json").read_text())
    assert index["run_id"] == run_id and index["version"] == 1 and index["unavailable"] == []
    for entry in index["files"]:
        path = unpacked / entry["path"]
        assert path.stat().st_size == entry["size"] and sha256_file(path) == entry["sha256"], entry["path"]
    listed = {entry["path"] for entry in index["files"]}
    for name in ("pipeline.yaml", "ledger.json", "run.json", "estimate.json", "train.yaml", "metrics.jsonl",
                 "logs/controller.log", "logs/train.log"):
        assert f"{run_id}/{name}" in listed, name

    for dataset in record.datasets:  # the manifests the ledger's digests name
        assert Manifest.load(top / "datasets" / dataset.name / f"{dataset.digest}.json").digest == dataset.digest
    extract = json.loads((top / "ledger.json").read_text())
    assert recompute_chain(run_id, extract["events"]) == []
    assert extract["head_hash"] == record.head_hash and extract["run"]["spec"] == record.spec
    checkpoints = [a for a in record.artifacts if a.path.startswith("checkpoints/")]
    assert checkpoints and len(index["checkpoints"]) == len(checkpoints)
    for artifact in checkpoints:
        assert sha256_file(top / artifact.path) == artifact.sha256
    assert find_secrets(run_world, [unpacked]) == []
    assert check_export(archive) == []

    # one byte of the metrics changed inside the archive: named; the ledger extract edited: the chain says so
    changed = tmp_path / "changed.tar.gz"
    _rewritten(archive, changed, lambda name, data: data.replace(b"val_loss", b"VAL_LOSS")
               if name.endswith("metrics.jsonl") else data)
    assert [p for p in check_export(changed) if "metrics.jsonl" in p] and len(check_export(changed)) == 1
    edited = tmp_path / "edited.tar.gz"
    _rewritten(archive, edited, lambda name, data: data.replace(b'"provisioning"', b'"training"', 1)
               if name.endswith("ledger.json") else data)
    found = check_export(edited)
    assert any("ledger.json: differs" in p for p in found) and any("content does not match its hash" in p
                                                                     for p in found)

    # without checkpoints: only where they are kept and their sha256
    light = tmp_path / "light.tar.gz"
    assert _export(run_world, run_id, "-o", str(light), "--runs-dir", str(runs_dir), "--no-checkpoints").exit_code == 0
    with tarfile.open(light) as tar:
        assert not [n for n in tar.getnames() if "/checkpoints/" in n]
    assert check_export(light) == []
    light_index = json.loads(tarfile.open(light).extractfile(f"{run_id}/EXPORT.json").read())
    assert {(c["path"], c["sha256"], c["included"]) for c in light_index["checkpoints"]} == {
        (a.path, a.sha256, False) for a in checkpoints}

    # the run's folder elsewhere: what the ledger has, and a warning naming what is not there
    bare = tmp_path / "bare.tar.gz"
    shown = _export(run_world, run_id[:-2], "-o", str(bare), "--runs-dir", str(tmp_path / "nowhere"))
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.count("\n") == 1 and "unavailable" in shown.stderr and "nowhere" in shown.stderr
    with tarfile.open(bare) as tar:
        assert {f"{run_id}/ledger.json", f"{run_id}/pipeline.yaml"} <= set(tar.getnames())
    assert check_export(bare) == []

    ran = subprocess.run([sys.executable, "-m", "stager", "runs", "verify-export", str(changed)],
                         env=run_world.env(), capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1 and "CHANGED (1 finding(s))" in ran.stdout and "metrics.jsonl" in ran.stdout


def test_a_crafted_archive_is_refused_and_an_unknown_run_is_a_usage_error(tmp_path):
    crafted = tmp_path / "evil.tar.gz"
    with tarfile.open(crafted, "w:gz") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    problems = check_export(crafted)
    assert len(problems) == 1 and "'..'" in problems[0] and "../evil" in problems[0]
    assert not (tmp_path.parent / "evil").exists()

    from stager.ledger import Ledger

    with Ledger.open(tmp_path / "ledger.sqlite"):
        pass
    env = {"STAGER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    ran = subprocess.run([sys.executable, "-m", "stager", "runs", "export", "r-nosuchrun", "-o",
                          str(tmp_path / "x.tar.gz")], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "no run r-nosuchrun" in ran.stderr
    assert not (tmp_path / "x.tar.gz").exists()
