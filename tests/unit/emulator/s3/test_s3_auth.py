"""Signature checks and per-bucket permissions of the emulator's access keys."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from s3_keys import ACCOUNT, DATA_BUCKET, OTHER_BUCKET, READ_ONLY, READ_WRITE

from stager.emulator.s3 import Grant


@pytest.fixture
def two_buckets(client):
    for name in (DATA_BUCKET, OTHER_BUCKET):
        client.create_bucket(Bucket=name)
        client.put_object(Bucket=name, Key="existing", Body=name.encode())


def status(err) -> int:
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_secret_is_signature_mismatch(server, make_client, bucket):
    bad = make_client(server.endpoint, (ACCOUNT[0], "not-the-secret"))
    with pytest.raises(ClientError, match=r"\(SignatureDoesNotMatch\)") as err:
        bad.list_objects_v2(Bucket=bucket)
    assert status(err) == 403
    with pytest.raises(ClientError, match=r"\(SignatureDoesNotMatch\)"):
        bad.put_object(Bucket=bucket, Key="k", Body=b"x" * 2_000_000)  # refused before the body is sent


def test_unknown_key_is_invalid_access_key_id(server, make_client):
    stranger = make_client(server.endpoint, ("NOSUCHKEY", "whatever"))
    with pytest.raises(ClientError, match=r"\(InvalidAccessKeyId\)") as err:
        stranger.list_buckets()
    assert status(err) == 403


def test_revoked_key_stops_working(server, make_client, keys, bucket):
    keys["TEMPKEY"] = Grant("temp-secret")
    temp = make_client(server.endpoint, ("TEMPKEY", "temp-secret"))
    temp.list_objects_v2(Bucket=bucket)
    del keys["TEMPKEY"]  # the credentials callable is asked on every request
    with pytest.raises(ClientError, match=r"\(InvalidAccessKeyId\)"):
        temp.list_objects_v2(Bucket=bucket)


def test_read_only_key_can_read_but_not_write(server, make_client, two_buckets):
    ro = make_client(server.endpoint, READ_ONLY)
    assert ro.get_object(Bucket=DATA_BUCKET, Key="existing")["Body"].read() == DATA_BUCKET.encode()
    assert ro.head_object(Bucket=DATA_BUCKET, Key="existing")["ContentLength"] == len(DATA_BUCKET)
    assert [o["Key"] for o in ro.list_objects_v2(Bucket=DATA_BUCKET)["Contents"]] == ["existing"]
    ro.head_bucket(Bucket=DATA_BUCKET)
    for call in (
        lambda: ro.put_object(Bucket=DATA_BUCKET, Key="new", Body=b"x"),
        lambda: ro.delete_object(Bucket=DATA_BUCKET, Key="existing"),
        lambda: ro.delete_objects(Bucket=DATA_BUCKET, Delete={"Objects": [{"Key": "existing"}]}),
        lambda: ro.create_multipart_upload(Bucket=DATA_BUCKET, Key="mp"),
        lambda: ro.copy_object(Bucket=DATA_BUCKET, Key="copy", CopySource=f"{DATA_BUCKET}/existing"),
    ):
        with pytest.raises(ClientError, match=r"\(AccessDenied\)") as err:
            call()
        assert status(err) == 403
    assert ro.get_object(Bucket=DATA_BUCKET, Key="existing")["Body"].read() == DATA_BUCKET.encode()


def test_read_write_key_writes_its_bucket(server, make_client, two_buckets):
    rw = make_client(server.endpoint, READ_WRITE)
    rw.put_object(Bucket=DATA_BUCKET, Key="new", Body=b"mine")
    rw.copy_object(Bucket=DATA_BUCKET, Key="copy", CopySource=f"{DATA_BUCKET}/new")
    upload_id = rw.create_multipart_upload(Bucket=DATA_BUCKET, Key="mp")["UploadId"]
    etag = rw.upload_part(Bucket=DATA_BUCKET, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")["ETag"]
    rw.complete_multipart_upload(
        Bucket=DATA_BUCKET, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    rw.delete_object(Bucket=DATA_BUCKET, Key="new")
    assert sorted(o["Key"] for o in rw.list_objects_v2(Bucket=DATA_BUCKET)["Contents"]) == ["copy", "existing", "mp"]


@pytest.mark.parametrize("key", [READ_ONLY, READ_WRITE])
def test_limited_key_cannot_see_or_touch_other_buckets(server, make_client, two_buckets, key):
    limited = make_client(server.endpoint, key)
    assert [b["Name"] for b in limited.list_buckets()["Buckets"]] == [DATA_BUCKET]
    for call in (
        lambda: limited.get_object(Bucket=OTHER_BUCKET, Key="existing"),
        lambda: limited.list_objects_v2(Bucket=OTHER_BUCKET),
        lambda: limited.put_object(Bucket=OTHER_BUCKET, Key="x", Body=b"x"),
        lambda: limited.delete_object(Bucket=OTHER_BUCKET, Key="existing"),
        lambda: limited.list_objects_v2(Bucket="does-not-exist"),  # no leak of which buckets exist
        lambda: limited.create_bucket(Bucket="brand-new-bucket"),
        lambda: limited.delete_bucket(Bucket=DATA_BUCKET),
        lambda: limited.copy_object(Bucket=DATA_BUCKET, Key="stolen", CopySource=f"{OTHER_BUCKET}/existing"),
    ):
        with pytest.raises(ClientError, match=r"\(AccessDenied\)"):
            call()
    with pytest.raises(ClientError, match="403"):
        limited.head_bucket(Bucket=OTHER_BUCKET)
    account = make_client(server.endpoint)
    assert sorted(b["Name"] for b in account.list_buckets()["Buckets"]) == sorted([DATA_BUCKET, OTHER_BUCKET])
    assert account.get_object(Bucket=OTHER_BUCKET, Key="existing")["Body"].read() == OTHER_BUCKET.encode()
