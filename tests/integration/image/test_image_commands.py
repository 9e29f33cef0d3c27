"""`stager image list|show|rm|upload|prune` as a user runs them, against a served emulator."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def workspace(tmp_path):
    """A STAGER_HOME with an emulator serving it, two recipes, and a pipeline that uses the first."""
    from stager.emulator import Emulator

    home = tmp_path / "home"
    (tmp_path / "images").mkdir()
    for name in ("used", "spare"):
        (tmp_path / "images" / f"{name}.yaml").write_text(
            f"name: {name}\nbase: linode/ubuntu24.04\nbuilder: {{type: g6-nanode-1, region: us-east}}\n"
            f"stager: none\nrun: ['echo {name}']\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "exp.yaml").write_text("name: exp\nimage: images/used.yaml\n")
    with Emulator(home / "emulator", rate_limits=False) as emulator:
        yield tmp_path, home, emulator


def stager(workspace, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    root, home, _ = workspace
    proc = subprocess.run([sys.executable, "-m", "stager", *args], cwd=root,
                          env={**os.environ, "STAGER_HOME": str(home)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_build_list_show_rm_prune(workspace):
    built = json.loads(stager(workspace, "build-image", "images/used.yaml", "--json").stdout)
    assert built["reused"] is False and built["image"].startswith("private/")
    again = json.loads(stager(workspace, "build-image", "images/used.yaml", "--json").stdout)
    assert again["reused"] is True and again["image"] == built["image"]
    spare = stager(workspace, "build-image", "images/spare.yaml").stdout.strip()

    listed = {i["id"]: i for i in json.loads(stager(workspace, "image", "list", "--json").stdout)}
    assert set(listed) == {built["image"], spare}
    assert listed[built["image"]]["used_by"] == ["pipelines/exp.yaml"]
    assert listed[built["image"]]["recipe_hash"] == built["recipe_hash"][:40]
    assert listed[spare]["used_by"] == []
    table = stager(workspace, "image", "list").stdout
    assert built["image"] in table and "pipelines/exp.yaml" in table and "of the account's 25" in table

    shown = json.loads(stager(workspace, "image", "show", built["image"], "--json").stdout)
    assert [b["status"] for b in shown["builds"]] == ["succeeded", "reused"]
    assert shown["builds"][0]["builder_deleted"] is True

    refused = stager(workspace, "image", "rm", built["image"], code=2)
    assert "used by pipelines/exp.yaml" in refused.stderr

    dry = stager(workspace, "image", "prune", "--older-than", "0", "--dry-run").stdout
    assert f"would delete {spare}" in dry and built["image"] not in dry
    assert len(json.loads(stager(workspace, "image", "list", "--json").stdout)) == 2
    pruned = stager(workspace, "image", "prune", "--older-than", "0").stdout
    assert f"deleting {spare}" in pruned
    assert [i["id"] for i in json.loads(stager(workspace, "image", "list", "--json").stdout)] == [built["image"]]
    kept = stager(workspace, "image", "prune").stdout  # 30 days by default: a fresh image stays
    assert "0 image(s) deleted" in kept

    stager(workspace, "image", "rm", built["image"], "--force")
    assert json.loads(stager(workspace, "image", "list", "--json").stdout) == []
    missing = stager(workspace, "image", "show", "private/999", code=2)
    assert "no stager image private/999" in missing.stderr


def test_upload_checks_before_sending(workspace):
    root, _, emulator = workspace
    bad = root / "disk.img"
    bad.write_bytes(b"not gzip at all")
    refused = stager(workspace, "image", "upload", str(bad), "--label", "raw-disk", "--region", "us-east", code=2)
    assert refused.stderr.strip().splitlines() == [f"error: {bad}: not a gzip file; compress the raw disk image "
                                                   "first: gzip -k disk.img"]
    assert [i for i in emulator.client().images() if not i.is_public] == []

    good = root / "disk.img.gz"
    good.write_bytes(gzip.compress(os.urandom(200_000)))
    image_id = stager(workspace, "image", "upload", str(good), "--label", "my-disk", "--region", "us-east").stdout
    uploaded = [i for i in emulator.client().images() if not i.is_public]
    assert [i.id for i in uploaded] == [image_id.strip()]
    assert uploaded[0].label == "my-disk"
