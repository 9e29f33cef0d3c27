"""Objects live on disk: they survive a server stop, and a killed writer leaves no half object."""

from __future__ import annotations

import os
import time

import pytest
from botocore.exceptions import ClientError

from stager.emulator.s3 import BucketError, BucketStore

MiB = 1024 * 1024


def test_objects_survive_a_restart(store, server, client, bucket, data_dir, start_server, make_client):
    big = os.urandom(5 * MiB) + b"tail"
    client.put_object(Bucket=bucket, Key="small.txt", Body=b"small", ContentType="text/plain", Metadata={"k": "v"})
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    etags = [
        client.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        for n, body in ((1, big[: 5 * MiB]), (2, big[5 * MiB :]))
    ]
    pending = client.create_multipart_upload(Bucket=bucket, Key="later.bin")["UploadId"]
    client.upload_part(Bucket=bucket, Key="later.bin", UploadId=pending, PartNumber=1, Body=b"resumed")
    done = client.complete_multipart_upload(
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    server.stop()

    second = start_server(BucketStore(data_dir))
    again = make_client(second.endpoint)
    assert [b["Name"] for b in again.list_buckets()["Buckets"]] == [bucket]
    small = again.get_object(Bucket=bucket, Key="small.txt")
    assert (small["Body"].read(), small["ContentType"], small["Metadata"]) == (b"small", "text/plain", {"k": "v"})
    got = again.get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == big
    assert got["ETag"] == done["ETag"]
    assert [o["Key"] for o in again.list_objects_v2(Bucket=bucket)["Contents"]] == ["big.bin", "small.txt"]
    info = BucketStore(data_dir).get_bucket(bucket)
    assert (info.objects, info.size) == (2, len(big) + len(b"small"))

    # An upload started before the restart can be finished after it.
    parts = again.list_parts(Bucket=bucket, Key="later.bin", UploadId=pending)["Parts"]
    again.complete_multipart_upload(
        Bucket=bucket, Key="later.bin", UploadId=pending,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]},
    )
    assert again.get_object(Bucket=bucket, Key="later.bin")["Body"].read() == b"resumed"


def test_stopped_server_closes_kept_alive_connections(server, make_client, bucket, store):
    client = make_client(server.endpoint, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=2)
    client.put_object(Bucket=bucket, Key="k", Body=b"v")  # leaves a pooled keep-alive connection
    server.stop()
    with pytest.raises(Exception) as err:
        client.get_object(Bucket=bucket, Key="k")
    assert not isinstance(err.value, ClientError)


class _Exploding:
    """A body whose reader dies halfway, as a killed client or process would."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def read(self, n: int = -1) -> bytes:
        if self.first:
            data, self.first = self.first, b""
            return data
        raise ConnectionResetError("client went away")


def test_interrupted_write_leaves_old_object(store, data_dir):
    store.create_bucket("atomic", "us-east-1")
    store.put_object("atomic", "k", b"old contents")
    with pytest.raises(ConnectionResetError):
        store.put_object("atomic", "k", _Exploding(b"new cont"))
    info, f = store.get_object("atomic", "k")
    with f:
        assert f.read() == b"old contents"
    assert info.size == len(b"old contents")
    assert list((data_dir / "tmp").iterdir()) == []  # the spool file was removed
    reopened = BucketStore(data_dir)
    _, f = reopened.get_object("atomic", "k")
    with f:
        assert f.read() == b"old contents"


def test_leftovers_of_a_killed_process_are_swept(store, data_dir):
    store.create_bucket("swept", "us-east-1")
    store.put_object("swept", "k", b"kept")
    old = time.time() - 2 * 3600
    stale_tmp = data_dir / "tmp" / "0123abcd"
    stale_tmp.write_bytes(b"half an upload")
    fresh_tmp = data_dir / "tmp" / "4567ef00"
    fresh_tmp.write_bytes(b"another process may be writing this")
    orphan = data_dir / "buckets" / "swept" / "blobs" / "deadbeef"
    orphan.write_bytes(b"renamed in, sidecar never written")
    for path in (stale_tmp, orphan):
        os.utime(path, (old, old))
    trash = data_dir / "tmp" / "trash-cafe"
    (trash / "sub").mkdir(parents=True)

    reopened = BucketStore(data_dir)
    assert reopened.get_bucket("swept").objects == 1
    assert not stale_tmp.exists() and not trash.exists() and not orphan.exists()
    assert fresh_tmp.exists()
    _, f = reopened.get_object("swept", "k")
    with f:
        assert f.read() == b"kept"


def test_store_api_errors(store):
    store.create_bucket("errors", "us-east-1")
    for call, code in (
        (lambda: store.get_object("errors", "missing"), "NoSuchKey"),
        (lambda: store.put_object("nope-bucket", "k", b""), "NoSuchBucket"),
        (lambda: store.put_object("errors", "k" * 1025, b""), "KeyTooLongError"),
        (lambda: store.put_object("errors", "", b""), "InvalidArgument"),
        (lambda: store.put_object("errors", "k", b"", metadata={"m": "x" * 3000}), "MetadataTooLarge"),
        (lambda: store.upload_part("errors", "k", "not-an-id", 1, b""), "NoSuchUpload"),
    ):
        with pytest.raises(BucketError) as err:
            call()
        assert err.value.code == code
    upload_id = store.create_multipart_upload("errors", "k")
    with pytest.raises(BucketError, match="InvalidArgument"):
        store.upload_part("errors", "k", upload_id, 10_001, b"")
    with pytest.raises(BucketError, match="NoSuchUpload"):
        store.upload_part("errors", "other-key", upload_id, 1, b"")
