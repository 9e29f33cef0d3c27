"""Large files go up in parts; an interrupted sync leaves nothing half-done and resumes where it stopped."""

from __future__ import annotations

import hashlib
import os
import signal
import threading

import pytest
from storage_testdata import manifest_of, random_bytes, small_files, write_files

from stager.errors import Interrupted, JobFailed
from stager.storage.remote import MANIFEST_KEY
from stager.storage.s3 import MIB, put_sender, transfer_config
from stager.storage.sync import sync_dataset

SMALL_PARTS = transfer_config(multipart_threshold=6 * MIB, multipart_chunksize=5 * MIB)


def quiet(_line: str) -> None:
    pass


def interrupt_after(client, operation: str, count: int) -> None:
    """Press Ctrl-C (a real SIGINT to this process) once ``count`` ``operation`` calls have been answered.

    Answers come through botocore (``after-call``) or, for small PUTs, the client's PutSender (``on_answer``).
    """
    answered = []
    lock = threading.Lock()

    def hook(**kwargs) -> None:
        with lock:
            answered.append(1)
            if len(answered) == count:
                os.kill(os.getpid(), signal.SIGINT)

    client.meta.events.register(f"after-call.s3.{operation}", hook, unique_id="storage-test-interrupt")
    put_sender(client).on_answer.append(lambda request, status: hook() if request.operation == operation else None)


def stop_interrupting(client, operation: str) -> None:
    client.meta.events.unregister(f"after-call.s3.{operation}", unique_id="storage-test-interrupt")
    put_sender(client).on_answer.clear()


def unfinished_uploads(client, location) -> list:
    return client.list_multipart_uploads(Bucket=location.bucket, Prefix=location.list_prefix).get("Uploads", [])


def objects(client, location) -> dict[str, str | None]:
    """Relative path -> the sha256 in the object's metadata."""
    listing = client.list_objects_v2(Bucket=location.bucket, Prefix=location.list_prefix).get("Contents", [])
    return {location.relative(o["Key"]): client.head_object(Bucket=location.bucket, Key=o["Key"])["Metadata"]
            .get("sha256") for o in listing}


def test_a_file_above_the_threshold_goes_up_in_parts_with_its_sha256(tmp_path, client, location, requests_sent):
    root = tmp_path / "data"
    big = random_bytes(12 * MIB + 123)
    write_files(root, {"big/shard.bin": big, "small.txt": b"small"})
    manifest = manifest_of(root)

    result = sync_dataset(root, manifest, location, client, config=SMALL_PARTS, say=quiet)

    assert sorted(result.sent) == ["big/shard.bin", "small.txt"]
    assert requests_sent["CreateMultipartUpload"] == 1 and requests_sent["CompleteMultipartUpload"] == 1
    assert requests_sent["UploadPart"] == 3  # 5 + 5 + 2 MiB
    head = client.head_object(Bucket=location.bucket, Key=location.key("big/shard.bin"))
    assert head["ContentLength"] == len(big) and head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"]["sha256"] == hashlib.sha256(big).hexdigest()
    requests_sent.reset()
    assert sync_dataset(root, manifest_of(root), location, client, config=SMALL_PARTS, say=quiet).sent == []
    assert requests_sent.writes == 0


def test_a_large_file_changed_after_its_manifest_is_never_completed(tmp_path, client, location):
    root = tmp_path / "data"
    write_files(root, {"big.bin": random_bytes(11 * MIB)})
    manifest = manifest_of(root)
    write_files(root, {"big.bin": random_bytes(11 * MIB)})  # same size, other bytes

    with pytest.raises(JobFailed, match="changed after its manifest was made"):
        sync_dataset(root, manifest, location, client, config=SMALL_PARTS, say=quiet)

    assert "big.bin" not in objects(client, location)
    assert unfinished_uploads(client, location) == []  # the refused upload was aborted


def test_a_large_file_edited_during_its_upload_is_never_completed(tmp_path, client, location):
    root = tmp_path / "data"
    write_files(root, {"big.bin": random_bytes(11 * MIB)})
    manifest = manifest_of(root)

    def edit_the_file(**kwargs):  # after the first part is in: someone saves over the file
        (root / "big.bin").write_bytes(random_bytes(11 * MIB))

    client.meta.events.register("after-call.s3.UploadPart", edit_the_file, unique_id="storage-test-edit")
    try:
        with pytest.raises(JobFailed, match="changed after its manifest was made"):
            sync_dataset(root, manifest, location, client, config=SMALL_PARTS, say=quiet)
    finally:
        client.meta.events.unregister("after-call.s3.UploadPart", unique_id="storage-test-edit")

    assert "big.bin" not in objects(client, location)
    assert unfinished_uploads(client, location) == []


def test_with_the_manifests_hash_cache_a_large_file_is_not_hashed_again(tmp_path, client, location):
    from stager.storage.hashcache import HashCache
    from stager.storage.manifest import new_manifest, scan_files

    root = tmp_path / "data"
    write_files(root, {"big.bin": random_bytes(7 * MIB)})
    with HashCache(tmp_path / "hashes.sqlite") as cache:
        manifest = new_manifest("demo", root, scan_files(root, cache=cache))
        misses = cache.misses
        result = sync_dataset(root, manifest, location, client, config=SMALL_PARTS, cache=cache, say=quiet)
        assert cache.misses == misses and cache.hits >= 1
    assert result.sent == ["big.bin"] and objects(client, location)["big.bin"] == manifest.files[0].sha256


def test_an_interrupted_sync_resumes_without_sending_finished_files_again(tmp_path, client, location, requests_sent):
    root = tmp_path / "data"
    files = small_files(120)
    write_files(root, files)
    manifest = manifest_of(root)
    interrupt_after(client, "PutObject", 5)

    with pytest.raises(Interrupted, match="interrupted after sending .* of 120 files"):
        sync_dataset(root, manifest, location, client, say=quiet)

    stop_interrupting(client, "PutObject")
    landed = objects(client, location)
    assert MANIFEST_KEY not in landed  # not complete, so not recorded as synced
    assert 5 <= len(landed) < 120
    for path, sha256 in landed.items():  # whatever landed is whole and carries its hash
        assert sha256 == hashlib.sha256(files[path]).hexdigest()
    requests_sent.reset()

    result = sync_dataset(root, manifest, location, client, say=quiet)

    assert len(result.sent) == 120 - len(landed) and result.skipped == len(landed)
    assert not set(result.sent) & set(landed)
    assert requests_sent["PutObject"] == 120 - len(landed) + 1
    assert requests_sent["HeadObject"] == len(landed)  # no remote manifest yet: each found object's hash is read


def test_ctrl_c_during_a_multipart_upload_aborts_it_and_the_next_sync_finishes(tmp_path, client, location,
                                                                               requests_sent):
    root = tmp_path / "data"
    big = random_bytes(16 * MIB)
    write_files(root, {"a.bin": big, "b.bin": big[::-1]})
    manifest = manifest_of(root)
    interrupt_after(client, "UploadPart", 1)

    with pytest.raises(Interrupted):
        sync_dataset(root, manifest, location, client, config=SMALL_PARTS, say=quiet)

    stop_interrupting(client, "UploadPart")
    assert requests_sent["CreateMultipartUpload"] >= 1
    assert unfinished_uploads(client, location) == []  # every started upload was aborted or completed
    for sha256 in objects(client, location).values():  # anything there is complete
        assert sha256 in {hashlib.sha256(big).hexdigest(), hashlib.sha256(big[::-1]).hexdigest()}

    result = sync_dataset(root, manifest, location, client, config=SMALL_PARTS, say=quiet)
    assert result.verified == 2 and MANIFEST_KEY in objects(client, location)


def test_an_upload_left_unfinished_by_a_killed_sync_is_aborted_by_the_next(dataset, client, location):
    client.create_multipart_upload(Bucket=location.bucket, Key=location.key("train/sample-001.bin"))
    lines: list[str] = []

    sync_dataset(dataset, manifest_of(dataset), location, client, say=lines.append)

    assert unfinished_uploads(client, location) == []
    assert any("aborted 1 unfinished multipart upload" in line for line in lines)
