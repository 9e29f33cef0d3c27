"""Multipart uploads: boto3's managed transfer and the low-level calls."""

from __future__ import annotations

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024
TRANSFER = TransferConfig(
    multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4, preferred_transfer_client="classic"
)


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_upload_file_and_download_file_round_trip(client, bucket, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * MiB + 12345))  # three parts: 5 MiB, 5 MiB, the rest
    digest = sha256_file(source)
    client.upload_file(
        str(source), bucket, "datasets/big.bin", Config=TRANSFER, ExtraArgs={"Metadata": {"sha256": digest}}
    )

    head = client.head_object(Bucket=bucket, Key="datasets/big.bin")
    assert head["ContentLength"] == source.stat().st_size
    assert head["ETag"].endswith('-3"')
    assert head["Metadata"] == {"sha256": digest}  # a multipart ETag is no MD5: compare by stored sha256

    target = tmp_path / "back.bin"
    client.download_file(bucket, "datasets/big.bin", str(target), Config=TRANSFER)
    assert sha256_file(target) == digest
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_low_level_calls_and_multipart_etag(client, bucket):
    parts = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"tail"]
    upload = client.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="application/x-tar")
    upload_id = upload["UploadId"]
    assert [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["mp"]
    etags = [
        client.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, 1)
    ]
    listed = client.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (n, etags[n - 1], len(parts[n - 1])) for n in (1, 2, 3)
    ]
    paged = client.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id, MaxParts=2)
    assert paged["IsTruncated"] and paged["NextPartNumberMarker"] == 2

    done = client.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    assert done["ETag"] == f'"{expected}"'
    got = client.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentType"] == "application/x-tar"
    with pytest.raises(ClientError, match=r"\(NoSuchUpload\)"):
        client.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)


def test_complete_checks_parts(client, bucket):
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    small = client.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"tiny")["ETag"]
    last = client.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=2, Body=b"end")["ETag"]

    def complete(parts):
        client.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )

    with pytest.raises(ClientError, match=r"\(EntityTooSmall\)"):
        complete([(1, small), (2, last)])
    with pytest.raises(ClientError, match=r"\(InvalidPart\)"):
        complete([(1, '"00000000000000000000000000000000"')])
    with pytest.raises(ClientError, match=r"\(InvalidPart\)"):
        complete([(3, last)])
    with pytest.raises(ClientError, match=r"\(InvalidPartOrder\)"):
        complete([(2, last), (1, small)])
    complete([(2, last)])  # a single (last) part may be small
    assert client.get_object(Bucket=bucket, Key="bad")["Body"].read() == b"end"


def test_abort(client, bucket):
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    client.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x")
    client.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)
    with pytest.raises(ClientError, match=r"\(NoSuchUpload\)"):
        client.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=2, Body=b"y")
    with pytest.raises(ClientError, match=r"\(NoSuchUpload\)"):
        client.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId="../../etc")
    with pytest.raises(ClientError, match=r"\(NoSuchKey\)"):
        client.get_object(Bucket=bucket, Key="gone")


def test_upload_part_copy(client, bucket):
    source = os.urandom(6 * MiB)
    client.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = client.upload_part_copy(
        Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    second = client.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2, Body=b"!")["ETag"]
    client.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
    )
    assert client.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[: 5 * MiB] + b"!"
