"""Syncing a dataset onto a Block Storage volume on the local target: real SSH, the emulator's volumes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from stager.errors import Interrupted
from stager.storage import volume as volume_module
from stager.storage.manifest import FileEntry, Manifest, new_manifest, scan_files
from stager.storage.volume import RECORD_PATH, VolumeSyncFailed, VolumeTooSmall, sync_to_volume

LABEL = "ds-mnist"


def manifest_of(root: Path) -> Manifest:
    return new_manifest("mnist", root, scan_files(root))


def sync(target, root: Path, *, lines: list[str] | None = None, manifest: Manifest | None = None, **options):
    values = {"label": LABEL, "region": "us-east", "size_gb": 10, "run_id": "r1", "boot_timeout": 30}
    values.update(options)
    say = lines.append if lines is not None else (lambda line: None)
    return sync_to_volume(target, root, manifest or manifest_of(root), say=say, **values)


def volume_files(emulator, volume_id: int) -> dict[str, bytes]:
    """The volume's contents as the emulator keeps them, dot-folders included."""
    base = emulator.backend.volumes.data_dir(volume_id)
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_first_sync_sends_everything_then_only_what_changed(emulator, local_target, dataset):
    lines: list[str] = []
    first = sync(local_target, dataset, lines=lines)
    assert first.created and first.volume.linode_id is None, "the volume is kept, detached"
    assert first.sent == ["labels.csv", "train/a.bin", "train/b.bin"]
    assert first.skipped == 0 and first.deleted == [] and first.bytes_sent == 8000 + len("id,label\n1,0\n2,1\n")
    files = volume_files(emulator, first.volume.id)
    assert files["train/a.bin"] == b"a" * 3000 and files["labels.csv"].startswith(b"id,label")
    assert ".DS_Store" not in files, "dot-files are not data"
    record = json.loads(files[RECORD_PATH])
    assert record["digest"] == manifest_of(dataset).digest and sorted(record["files"]) == first.sent
    assert not [name for name in files if ".stager-part-" in name], "no temporary file is left on the volume"
    assert any("staging instance" in line and "deleted" in line for line in lines)
    assert "stager-dataset" in first.volume.tags and not any(t.startswith("ttl:") for t in first.volume.tags)

    (dataset / "train" / "b.bin").write_bytes(b"B" * 7000)
    second = sync(local_target, dataset)
    assert not second.created and second.volume.id == first.volume.id
    assert second.sent == ["train/b.bin"] and second.skipped == 2 and second.bytes_sent == 7000
    assert volume_files(emulator, first.volume.id)["train/b.bin"] == b"B" * 7000
    assert emulator.backend.instances.list_instances() == []


def test_removed_files_stay_unless_delete(emulator, local_target, dataset):
    first = sync(local_target, dataset)
    (dataset / "train" / "a.bin").unlink()
    kept = sync(local_target, dataset)
    assert kept.sent == [] and kept.deleted == []
    assert "train/a.bin" in volume_files(emulator, first.volume.id)

    pruned = sync(local_target, dataset, delete=True)
    assert pruned.deleted == ["train/a.bin"] and pruned.sent == []
    files = volume_files(emulator, first.volume.id)
    assert "train/a.bin" not in files and "train/b.bin" in files
    assert "train/a.bin" not in json.loads(files[RECORD_PATH])["files"]


def test_removing_the_last_file_of_a_folder_removes_the_folder(emulator, local_target, dataset):
    first = sync(local_target, dataset)
    for name in ("a.bin", "b.bin"):
        (dataset / "train" / name).unlink()
    sync(local_target, dataset, delete=True)
    base = emulator.backend.volumes.data_dir(first.volume.id)
    assert not (base / "train").exists() and (base / "labels.csv").is_file()


def test_a_file_changed_on_the_volume_is_sent_again(emulator, local_target, dataset):
    first = sync(local_target, dataset)
    (emulator.backend.volumes.data_dir(first.volume.id) / "labels.csv").write_text("tampered\n")
    lines: list[str] = []
    again = sync(local_target, dataset, lines=lines)
    assert again.sent == ["labels.csv"]
    assert volume_files(emulator, first.volume.id)["labels.csv"].startswith(b"id,label")
    assert any("differ from its record" in line for line in lines)


def test_a_dataset_too_large_is_refused_before_anything_exists(emulator, local_target, dataset, instance_creations):
    huge = Manifest(name="huge", files=(FileEntry("big.bin", 10 * 1024**3, "0" * 64),))
    with pytest.raises(VolumeTooSmall) as caught:
        sync(local_target, dataset, manifest=huge)
    assert "ask for at least 11 GB" in str(caught.value)
    assert instance_creations() == 0 and local_target.cloud.find_volume(LABEL) is None


def test_an_existing_volume_too_small_or_elsewhere_is_refused(emulator, local_target, dataset, instance_creations):
    sync(local_target, dataset)
    created = instance_creations()
    with pytest.raises(VolumeTooSmall, match="does not grow volumes"):
        sync(local_target, dataset, size_gb=20)
    with pytest.raises(VolumeSyncFailed, match="only attaches to instances in its own region"):
        sync(local_target, dataset, region="us-ord")
    assert instance_creations() == created


def test_a_volume_stager_did_not_create_is_not_touched(emulator, local_target, dataset, instance_creations):
    emulator.client().volumes.create(LABEL, region="us-east", size=10)
    with pytest.raises(VolumeSyncFailed, match="not created by stager"):
        sync(local_target, dataset)
    assert instance_creations() == 0


def test_failure_mid_copy_leaves_no_instance_and_the_volume_detached(emulator, local_target, dataset,
                                                                   monkeypatch):
    monkeypatch.setattr(volume_module, "_BATCH_FILES", 1)  # one file per verified batch
    manifest = manifest_of(dataset)
    (dataset / "train" / "b.bin").write_bytes(b"changed after validation")  # the third file
    with pytest.raises(VolumeSyncFailed, match="changed since the dataset's manifest was made"):
        sync(local_target, dataset, manifest=manifest)
    assert emulator.backend.instances.list_instances() == []
    volume = local_target.cloud.find_volume(LABEL)
    assert volume is not None and volume.linode_id is None
    files = volume_files(emulator, volume.id)
    assert "train/b.bin" not in files and "train/a.bin" in files, "batches that landed stay"
    record = json.loads(files[RECORD_PATH])
    assert record["digest"] is None and sorted(record["files"]) == ["labels.csv", "train/a.bin"]

    resumed = sync(local_target, dataset)  # a fresh manifest: the sync resumes where it stopped
    assert resumed.sent == ["train/b.bin"] and resumed.skipped == 2


@pytest.mark.parametrize("how", ["ctrl_c", "sigterm"])
def test_interruption_deletes_the_staging_instance(emulator, local_target, dataset, how):
    def say(line: str) -> None:
        if line.startswith("sending "):
            if how == "ctrl_c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted, match="staging instance was deleted"):
        sync_to_volume(local_target, dataset, manifest_of(dataset), label=LABEL, region="us-east", size_gb=10,
                       run_id="r1", boot_timeout=30, say=say)
    assert emulator.backend.instances.list_instances() == []
    volume = local_target.cloud.find_volume(LABEL)
    assert volume is not None and volume.linode_id is None


def test_an_invalid_label_is_refused(emulator, local_target, dataset, instance_creations):
    from stager.errors import UsageError

    with pytest.raises(UsageError, match="not a valid volume label"):
        sync(local_target, dataset, label="data.v1")
    assert instance_creations() == 0
