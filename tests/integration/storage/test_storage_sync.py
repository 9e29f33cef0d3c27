"""stager data sync against a real S3 endpoint (the emulator's): incremental, verified, requests counted."""

from __future__ import annotations

import hashlib
import json

import pytest
from storage_testdata import manifest_of, small_files, write_files

from stager.errors import JobFailed
from stager.storage.remote import MANIFEST_KEY
from stager.storage.sync import sync_dataset


def quiet(_line: str) -> None:
    pass


def stored(client, location) -> dict[str, dict]:
    """Every object under the location: key (relative) -> {size, sha256 from its metadata}."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.list_prefix):
        for item in page.get("Contents") or ():
            head = client.head_object(Bucket=location.bucket, Key=item["Key"])
            found[location.relative(item["Key"])] = {"size": item["Size"], "sha256": head["Metadata"].get("sha256")}
    return found


def test_first_sync_sends_every_file_with_its_sha256_and_records_the_manifest(dataset, client, location,
                                                                              requests_sent):
    manifest = manifest_of(dataset)
    result = sync_dataset(dataset, manifest, location, client, say=quiet)

    assert sorted(result.sent) == sorted(f.path for f in manifest.files) and len(result.sent) == 24
    assert (result.skipped, result.deleted, result.verified, result.dry_run) == (0, [], 24, False)
    assert result.bytes_sent == manifest.total_bytes
    assert requests_sent["PutObject"] == 24 + 1  # the files, then the remote manifest
    assert requests_sent.lean["PutObject"] == 24  # small files: signed and sent by stager's PutSender
    assert requests_sent["HeadObject"] == 0
    objects = stored(client, location)
    for entry in manifest.files:
        assert objects[entry.path] == {"size": entry.size, "sha256": entry.sha256}
    assert ".DS_Store" not in objects
    remote = json.loads(client.get_object(Bucket=location.bucket, Key=location.key(MANIFEST_KEY))["Body"].read())
    assert remote["digest"] == manifest.digest and set(remote["etags"]) == {f.path for f in manifest.files}


def test_a_second_sync_sends_only_the_files_that_changed(dataset, client, location, requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    files = small_files(24)
    changed = sorted(files)[:2]
    write_files(dataset, {changed[0]: b"new content", changed[1]: files[changed[1]][::-1]})  # same size, new bytes
    write_files(dataset, {"train/added.bin": b"added"})
    requests_sent.reset()

    result = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)

    assert sorted(result.sent) == sorted([*changed, "train/added.bin"])
    assert result.skipped == 22 and result.verified == 25
    assert requests_sent["PutObject"] == 3 + 1  # three files and the remote manifest, nothing else
    assert requests_sent["HeadObject"] == 0  # the remote manifest vouched for the rest
    assert requests_sent["ListObjectsV2"] == 2  # plan, then verify
    assert requests_sent["GetObject"] == 1


def test_a_no_op_resync_is_one_listing_and_one_get(dataset, client, location, requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    requests_sent.reset()

    result = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)

    assert result.sent == [] and result.skipped == 24 and result.verified == 24
    assert dict(requests_sent.counts) == {"ListObjectsV2": 1, "GetObject": 1}


def test_delete_removes_objects_no_longer_in_the_dataset_but_never_the_records(dataset, client, location,
                                                                               requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    client.put_object(Bucket=location.bucket, Key=location.key(".stager/note.txt"), Body=b"stager's own")
    client.put_object(Bucket="stager-sync", Key="elsewhere/keep.bin", Body=b"outside the prefix")
    gone = sorted(small_files(24))[:3]
    for path in gone:
        (dataset / path).unlink()
    requests_sent.reset()

    kept = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)  # without --delete
    assert kept.deleted == [] and requests_sent.writes == 1  # only the remote manifest changed
    result = sync_dataset(dataset, manifest_of(dataset), location, client, delete=True, say=quiet)

    assert result.deleted == gone and result.sent == []
    objects = stored(client, location)
    assert not set(gone) & set(objects)
    assert {".stager/note.txt", MANIFEST_KEY} <= set(objects)
    assert client.get_object(Bucket="stager-sync", Key="elsewhere/keep.bin")["Body"].read() == b"outside the prefix"


def test_dry_run_says_what_would_change_and_sends_nothing(dataset, client, location, requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    write_files(dataset, {"train/new.bin": b"x" * 10})
    (dataset / sorted(small_files(24))[0]).unlink()
    requests_sent.reset()
    lines: list[str] = []

    result = sync_dataset(dataset, manifest_of(dataset), location, client, delete=True, dry_run=True,
                          say=lines.append)

    assert result.dry_run and result.sent == ["train/new.bin"] and len(result.deleted) == 1
    assert requests_sent.writes == 0
    assert "would send train/new.bin (10 B)" in lines
    assert any(line.startswith("would delete datasets/demo/") for line in lines)
    assert "train/new.bin" not in stored(client, location)


def test_objects_the_remote_manifest_does_not_vouch_for_are_checked_by_their_stored_hash(dataset, client, location,
                                                                                         requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    client.delete_object(Bucket=location.bucket, Key=location.key(MANIFEST_KEY))
    victim = sorted(small_files(24))[5]
    body = (dataset / victim).read_bytes()
    # Same size, other bytes, no stored hash: a half-finished or foreign upload.
    client.put_object(Bucket=location.bucket, Key=location.key(victim), Body=bytes(reversed(body)))
    requests_sent.reset()

    result = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)

    assert result.sent == [victim] and result.skipped == 23
    assert requests_sent["HeadObject"] == 24
    assert requests_sent["PutObject"] == 2  # the victim and the remote manifest
    assert stored(client, location)[victim]["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_replaced_object_is_rechecked_by_its_stored_hash(dataset, client, location, requests_sent):
    sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)
    victim = sorted(small_files(24))[7]
    body = (dataset / victim).read_bytes()
    # Other content under the old metadata: only the ETag gives it away.
    client.put_object(Bucket=location.bucket, Key=location.key(victim), Body=b"\0" * len(body),
                      Metadata={"sha256": hashlib.sha256(body).hexdigest()})
    requests_sent.reset()

    result = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)

    # The HEAD shows the old hash, so the object is taken as right: the listing's size and
    # the object's own sha256 metadata are all S3 tells; pull is where content is hashed.
    assert requests_sent["HeadObject"] == 1
    assert result.skipped == 24


def test_a_file_changed_after_its_manifest_was_made_is_refused(dataset, client, location):
    manifest = manifest_of(dataset)
    victim = sorted(small_files(24))[0]
    (dataset / victim).write_bytes(b"edited after validation")

    with pytest.raises(JobFailed, match="changed after its manifest was made"):
        sync_dataset(dataset, manifest, location, client, say=quiet)
    assert MANIFEST_KEY not in stored(client, location)
    assert victim not in stored(client, location)


def test_small_files_and_parts_are_sent_outright_and_other_bodies_ask_first(tmp_path, client, location):
    from storage_testdata import random_bytes

    from stager.storage.s3 import MIB, put_sender

    expect_headers = {}

    def note(request, event_name, **kwargs):  # botocore's requests
        name = request.url.split("?")[0].rsplit("/", 1)[-1]
        expect_headers[(event_name.rsplit(".", 1)[-1], name)] = request.headers.get("Expect")

    def note_lean(request):  # the small PUTs stager signs itself
        expect_headers[(request.operation, request.url.rsplit("/", 1)[-1])] = request.headers.get("expect")

    client.meta.events.register("before-send.s3", note, unique_id="storage-test-expect")
    put_sender(client).on_send.append(note_lean)
    root = tmp_path / "data"
    write_files(root, {"small.bin": b"s" * 1000, "medium.bin": random_bytes(2 * MIB),
                       "large.bin": random_bytes(9 * MIB)})
    sync_dataset(root, manifest_of(root), location, client, say=quiet)

    # No round trip spent asking to send a kilobyte, or a part of an upload the endpoint
    # already accepted; a whole object worth refusing early still asks.
    assert expect_headers[("PutObject", "small.bin")] is None
    assert expect_headers[("UploadPart", "large.bin")] is None
    assert expect_headers[("PutObject", "medium.bin")] == b"100-continue"
