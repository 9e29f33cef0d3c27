"""Object operations through a real boto3 client."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def test_put_get_head_delete_with_metadata(client, bucket):
    body = b"hello, stager\n" * 100
    digest = hashlib.sha256(body).hexdigest()
    put = client.put_object(
        Bucket=bucket, Key="data/train.csv", Body=body, ContentType="text/csv", Metadata={"sha256": digest}
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'

    got = client.get_object(Bucket=bucket, Key="data/train.csv")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/csv"
    assert got["ContentLength"] == len(body)
    assert got["Metadata"] == {"sha256": digest}
    assert got["ETag"] == put["ETag"]

    head = client.head_object(Bucket=bucket, Key="data/train.csv")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"]["sha256"] == digest
    assert head["LastModified"] == got["LastModified"]

    client.delete_object(Bucket=bucket, Key="data/train.csv")
    with pytest.raises(ClientError, match=r"\(NoSuchKey\)"):
        client.get_object(Bucket=bucket, Key="data/train.csv")
    with pytest.raises(ClientError, match="404"):
        client.head_object(Bucket=bucket, Key="data/train.csv")
    client.delete_object(Bucket=bucket, Key="data/train.csv")  # deleting a missing key is fine, as in S3


def test_empty_object_and_overwrite(client, bucket):
    client.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert client.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    client.put_object(Bucket=bucket, Key="empty", Body=b"now full")
    assert client.get_object(Bucket=bucket, Key="empty")["Body"].read() == b"now full"
    assert client.get_object(Bucket=bucket, Key="empty")["ContentType"] == "binary/octet-stream"


def test_range_requests(client, bucket):
    body = bytes(range(100))
    client.put_object(Bucket=bucket, Key="r", Body=body)
    part = client.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == "bytes 10-19/100"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert client.get_object(Bucket=bucket, Key="r", Range="bytes=95-")["Body"].read() == body[95:]
    assert client.get_object(Bucket=bucket, Key="r", Range="bytes=-3")["Body"].read() == body[-3:]
    assert client.get_object(Bucket=bucket, Key="r", Range="bytes=90-1000")["Body"].read() == body[90:]
    with pytest.raises(ClientError, match=r"\(InvalidRange\)") as err:
        client.get_object(Bucket=bucket, Key="r", Range="bytes=100-200")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_conditional_get(client, bucket):
    etag = client.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    with pytest.raises(ClientError, match="304"):
        client.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    with pytest.raises(ClientError, match=r"\(PreconditionFailed\)"):
        client.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert client.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"


def test_content_md5_is_checked(client, bucket):
    good = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    client.put_object(Bucket=bucket, Key="m", Body=b"payload", ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError, match=r"\(BadDigest\)"):
        client.put_object(Bucket=bucket, Key="m2", Body=b"payload", ContentMD5=bad)
    with pytest.raises(ClientError, match=r"\(NoSuchKey\)"):
        client.get_object(Bucket=bucket, Key="m2")


def test_copy_object_keeps_or_replaces_metadata(client, bucket):
    client.put_object(Bucket=bucket, Key="src", Body=b"content", ContentType="text/plain", Metadata={"a": "1"})
    copied = client.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"content").hexdigest()}"'
    dst = client.get_object(Bucket=bucket, Key="dst")
    assert (dst["Body"].read(), dst["ContentType"], dst["Metadata"]) == (b"content", "text/plain", {"a": "1"})

    client.copy_object(
        Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
        Metadata={"b": "2"}, ContentType="application/json",
    )
    head = client.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("application/json", {"b": "2"})

    with pytest.raises(ClientError, match=r"\(InvalidRequest\)"):
        client.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    with pytest.raises(ClientError, match=r"\(NoSuchKey\)"):
        client.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    # The source is untouched by the copies.
    assert client.get_object(Bucket=bucket, Key="src")["Body"].read() == b"content"


def test_delete_objects(client, bucket):
    for i in range(5):
        client.put_object(Bucket=bucket, Key=f"batch/{i}", Body=b"x")
    result = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": f"batch/{i}"} for i in (0, 1, 2)] + [{"Key": "batch/missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["batch/0", "batch/1", "batch/2", "batch/missing"]
    assert "Errors" not in result
    quiet = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "batch/3"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["batch/4"]


def test_presigned_get_and_put(client, bucket):
    client.put_object(Bucket=bucket, Key="shared/file.bin", Body=b"presigned body")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared/file.bin"})
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned body"

    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[:-1]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered, timeout=10)
    assert err.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in err.value.read()

    put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "shared/upload"})
    request = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert client.get_object(Bucket=bucket, Key="shared/upload")["Body"].read() == b"uploaded"


def test_anonymous_requests_are_denied(server, bucket):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}", timeout=10)
    assert err.value.code == 403
    assert b"<Code>AccessDenied</Code>" in err.value.read()


WEIRD_KEYS = [
    "../../escape.txt",
    "..",
    "./dot",
    "a/../../../etc/passwd",
    "spaced name/with spaces.txt",
    "unicodé/日本語/ü+ö%20.bin",
    "emoji 🙂/x",
    "double//slash/",
    "q?uery#frag&amp=1",
    "/leading-slash",
    "\\back\\slash",
    "line\nbreak\ttab\x01control",
]


def test_weird_keys_round_trip_and_stay_inside_data_dir(client, bucket, data_dir, tmp_path):
    for i, key in enumerate(WEIRD_KEYS):
        client.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode(), Metadata={"index": str(i)})
    for i, key in enumerate(WEIRD_KEYS):
        got = client.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == f"body {i}".encode(), key
        assert got["Metadata"] == {"index": str(i)}
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(WEIRD_KEYS, key=lambda k: k.encode("utf-8"))
    v1 = [o["Key"] for o in client.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == listed
    copied = client.copy_object(Bucket=bucket, Key="copy of ../..", CopySource={"Bucket": bucket, "Key": WEIRD_KEYS[0]})
    assert copied["CopyObjectResult"]["ETag"]

    # Nothing was written outside data_dir, and no file name comes from a key.
    assert sorted(p.name for p in tmp_path.iterdir()) == [data_dir.name]
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            assert name.isascii() and " " not in name and ".." not in name, os.path.join(root, name)

    # XML 1.0 cannot carry control characters, so (as on S3) DeleteObjects cannot name that key.
    xml_safe = [k for k in WEIRD_KEYS if "\x01" not in k]
    with pytest.raises(ClientError, match=r"\(MalformedXML\)"):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in WEIRD_KEYS]})
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in xml_safe]})
    client.delete_object(Bucket=bucket, Key=WEIRD_KEYS[-1])
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["copy of ../.."]


def test_concurrent_writers_and_readers(client, bucket):
    """Threads share one client (and its keep-alive pool); the store stays consistent."""
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> None:
        for j in range(10):
            client.put_object(Bucket=bucket, Key=f"shared/{j}", Body=f"{i}-{j}".encode() * 1000)
            client.put_object(Bucket=bucket, Key=f"own/{i}/{j}", Body=b"x" * i)
            body = client.get_object(Bucket=bucket, Key=f"shared/{j}")["Body"].read()
            assert body.decode().split("-")[1].startswith(str(j))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page["Contents"]]
    assert len(keys) == 10 + 8 * 10
