"""stager data pull: every file checked against the remote manifest before it takes its final name."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
from collections import namedtuple

import pytest
from storage_testdata import manifest_of, random_bytes, small_files, write_files

from stager.errors import Interrupted, JobFailed, UsageError
from stager.storage import pull as pull_module
from stager.storage.pull import pull_dataset
from stager.storage.s3 import MIB, transfer_config
from stager.storage.sync import sync_dataset

SMALL_PARTS = transfer_config(multipart_threshold=6 * MIB, multipart_chunksize=5 * MIB)


def quiet(_line: str) -> None:
    pass


def tree(root) -> dict[str, bytes]:
    """Every file under ``root`` (dot files included) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def synced(dataset, client, location):
    manifest = manifest_of(dataset)
    sync_dataset(dataset, manifest, location, client, say=quiet)
    return manifest


def test_pull_fetches_every_file_verified_and_returns_the_remote_manifest(tmp_path, dataset, synced, client,
                                                                          location, requests_sent):
    out = tmp_path / "out"
    result = pull_dataset(location, out, client, say=quiet)

    assert result.manifest.digest == synced.digest
    assert len(result.sent) == 24 and result.skipped == 0 and result.verified == 24
    assert tree(out) == {p: b for p, b in tree(dataset).items() if p != ".DS_Store"}
    requests_sent.reset()
    again = pull_dataset(location, out, client, say=quiet)
    assert again.sent == [] and again.skipped == 24
    assert dict(requests_sent.counts) == {"GetObject": 1}  # the remote manifest only


def test_a_locally_changed_file_is_fetched_again(tmp_path, dataset, synced, client, location):
    out = tmp_path / "out"
    pull_dataset(location, out, client, say=quiet)
    victim = sorted(small_files(24))[3]
    (out / victim).write_bytes(b"edited")

    result = pull_dataset(location, out, client, say=quiet)

    assert result.sent == [victim]
    assert (out / victim).read_bytes() == (dataset / victim).read_bytes()


def test_pull_refuses_an_object_whose_content_no_longer_matches(tmp_path, dataset, synced, client, location):
    victim = sorted(small_files(24))[9]
    body = (dataset / victim).read_bytes()
    # Wrong content under the old metadata: only hashing what arrives can tell.
    client.put_object(Bucket=location.bucket, Key=location.key(victim), Body=b"\1" * len(body),
                      Metadata={"sha256": hashlib.sha256(body).hexdigest()})
    out = tmp_path / "out"

    with pytest.raises(JobFailed, match=f"{victim}: the object does not match the remote manifest"):
        pull_dataset(location, out, client, say=quiet)

    assert not (out / victim).exists()
    assert not [p for p in tree(out) if p.endswith(".stager-part")]


def test_a_large_file_comes_down_in_ranges_and_is_verified(tmp_path, client, location):
    root = tmp_path / "data"
    big = random_bytes(13 * MIB)
    write_files(root, {"shards/big.bin": big})
    sync_dataset(root, manifest_of(root), location, client, config=SMALL_PARTS, say=quiet)
    out = tmp_path / "out"

    result = pull_dataset(location, out, client, config=SMALL_PARTS, say=quiet)

    assert result.sent == ["shards/big.bin"] and (out / "shards" / "big.bin").read_bytes() == big
    client.put_object(Bucket=location.bucket, Key=location.key("shards/big.bin"), Body=big[:-1] + b"\0")
    (out / "shards" / "big.bin").unlink()
    with pytest.raises(JobFailed, match="does not match the remote manifest"):
        pull_dataset(location, out, client, config=SMALL_PARTS, say=quiet)
    assert tree(out) == {}


def test_a_prefix_never_synced_is_a_usage_error(tmp_path, client, bucket):
    from stager.storage.s3 import S3Location

    with pytest.raises(UsageError, match="holds no stager manifest"):
        pull_dataset(S3Location.parse(f"s3://{bucket}/nothing-here"), tmp_path / "out", client, say=quiet)


def test_not_enough_free_space_stops_before_anything_is_written(tmp_path, synced, client, location, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(pull_module.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    out = tmp_path / "out"

    with pytest.raises(JobFailed, match="not enough free space"):
        pull_dataset(location, out, client, say=quiet)
    assert tree(out) == {}


def test_a_disk_that_fills_up_mid_pull_leaves_no_partial_file(tmp_path, synced, client, location, monkeypatch):
    real_open = open
    written = []

    class FillingFile:
        """A file on a disk that is full after a few kilobytes."""

        def __init__(self, path, mode):
            self._f = real_open(path, mode)

        def write(self, data):
            written.append(len(data))
            if sum(written) > 4096:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self._f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(pull_module, "open", FillingFile, raising=False)
    out = tmp_path / "out"

    with pytest.raises(JobFailed, match="the disk is full") as caught:
        pull_dataset(location, out, client, say=quiet)

    assert "\n" not in str(caught.value)
    files = tree(out)
    assert not [p for p in files if p.endswith(".stager-part")]
    expected = {e.path: e for e in synced.files}
    for path, body in files.items():  # only whole, verified files took their final names
        assert hashlib.sha256(body).hexdigest() == expected[path].sha256


@contextlib.contextmanager
def ctrl_c_after_gets(client, n: int):
    """Press Ctrl-C once the client has answered ``n`` GETs (the remote manifest's included)."""
    answered = []

    def press_ctrl_c(**kwargs):
        answered.append(1)
        if len(answered) == n:
            os.kill(os.getpid(), signal.SIGINT)

    client.meta.events.register("after-call.s3.GetObject", press_ctrl_c, unique_id="storage-test-pull-interrupt")
    try:
        yield
    finally:
        client.meta.events.unregister("after-call.s3.GetObject", unique_id="storage-test-pull-interrupt")


def test_ctrl_c_during_a_pull_leaves_only_whole_files(tmp_path, synced, client, location):
    out = tmp_path / "out"
    with ctrl_c_after_gets(client, 5), pytest.raises(Interrupted, match="pull from .* interrupted after .* files were"):
        pull_dataset(location, out, client, say=quiet)

    expected = {e.path: e for e in synced.files}
    assert len(tree(out)) >= 4  # what was in flight finished; nothing half-written shows
    for path, body in tree(out).items():
        assert not path.endswith(".stager-part")
        assert hashlib.sha256(body).hexdigest() == expected[path].sha256
    assert pull_dataset(location, out, client, say=quiet).verified == 24


def test_ctrl_c_while_large_files_come_down_in_ranges_leaves_only_whole_files(tmp_path, client, location):
    root = tmp_path / "data"
    bodies = {f"shards/{n}.bin": random_bytes(6 * MIB + 1024 * (n + 1)) for n in range(6)}  # two ranges each
    write_files(root, bodies)
    sync_dataset(root, manifest_of(root), location, client, config=SMALL_PARTS, say=quiet)
    out = tmp_path / "out"
    with ctrl_c_after_gets(client, 5), pytest.raises(Interrupted, match="pull from .* interrupted"):
        pull_dataset(location, out, client, config=SMALL_PARTS, say=quiet)

    assert len(tree(out)) < len(bodies)  # stopped part-way
    for path, body in tree(out).items():  # nothing half-written, under any name
        assert body == bodies[path]
    assert pull_dataset(location, out, client, config=SMALL_PARTS, say=quiet).verified == len(bodies)
    assert tree(out) == bodies
