"""Object Storage: buckets and keys made through the API really work, and really limit, over S3."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from linode_api4 import ApiError
from linode_api4.groups.object_storage import ObjectStorageGroup

# Linode rejects boto3's default flexible checksums; stager's clients are made like this.
S3_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                   request_checksum_calculation="when_required", response_checksum_validation="when_required")


def s3(emulator, key, config=S3_CONFIG):
    return boto3.client("s3", endpoint_url=emulator.s3_endpoint, region_name="us-east-1", config=config,
                        aws_access_key_id=key.access_key, aws_secret_access_key=key.secret_key)


def test_buckets_through_the_api_and_s3(client, emulator):
    bucket = client.object_storage.bucket_create("us-east", "stager-data")
    assert bucket.label == "stager-data"
    assert [b.label for b in client.object_storage.buckets()] == ["stager-data"]
    again = client.object_storage.bucket_create("us-east", "stager-data")  # a retried create is harmless
    assert again.label == "stager-data" and len(client.object_storage.buckets()) == 1
    with pytest.raises(ApiError) as caught:  # bucket names are global
        client.object_storage.bucket_create("eu-central", "stager-data")
    assert caught.value.status == 400
    key = client.object_storage.keys_create("stager-admin")
    assert key.limited is False and len(key.secret_key) >= 40
    storage = s3(emulator, key)
    body = b"0123456789" * 1000
    digest = hashlib.sha256(body).hexdigest()
    storage.put_object(Bucket="stager-data", Key="mnist/train.idx", Body=body, Metadata={"sha256": digest})
    head = storage.head_object(Bucket="stager-data", Key="mnist/train.idx")
    assert head["Metadata"]["sha256"] == digest and head["ContentLength"] == len(body)
    assert storage.get_object(Bucket="stager-data", Key="mnist/train.idx")["Body"].read() == body
    listed = client.load(type(bucket), "stager-data", "us-east")
    assert listed.objects == 1 and listed.size == len(body)
    with pytest.raises(ApiError):  # not empty
        bucket.delete()
    storage.delete_object(Bucket="stager-data", Key="mnist/train.idx")
    bucket.delete()
    key.delete()


def test_a_limited_key_cannot_touch_other_buckets(client, emulator):
    client.object_storage.bucket_create("us-east", "run-data")
    client.object_storage.bucket_create("us-east", "someone-else")
    admin = s3(emulator, client.object_storage.keys_create("admin"))
    admin.put_object(Bucket="run-data", Key="in.txt", Body=b"data")
    admin.put_object(Bucket="someone-else", Key="secret.txt", Body=b"secret")
    access = [ObjectStorageGroup.bucket_access("us-east", "run-data", "read_only")]
    limited_key = client.object_storage.keys_create("run-reader", bucket_access=access)
    assert limited_key.limited is True
    reader = s3(emulator, limited_key)
    assert reader.get_object(Bucket="run-data", Key="in.txt")["Body"].read() == b"data"
    assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == ["run-data"]
    for call in (lambda: reader.put_object(Bucket="run-data", Key="x", Body=b"x"),
                 lambda: reader.get_object(Bucket="someone-else", Key="secret.txt"),
                 lambda: reader.create_bucket(Bucket="new-bucket")):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "AccessDenied"
    listed = [k for k in client.object_storage.keys() if k.id == limited_key.id][0]
    assert listed.secret_key == "[REDACTED]"


def test_boto3_default_checksums_are_rejected_as_on_linode(client, emulator):
    client.object_storage.bucket_create("us-east", "checksums")
    key = client.object_storage.keys_create("default-client")
    with pytest.raises(ClientError) as caught:
        s3(emulator, key, Config(s3={"addressing_style": "path"})).put_object(Bucket="checksums", Key="k", Body=b"v")
    assert caught.value.response["Error"]["Code"] == "XAmzContentSHA256Mismatch"


def test_clusters_and_endpoints(client):
    clusters = {c.id for c in client.object_storage.clusters()}
    assert {"us-east-1", "eu-central-1"} <= clusters
    endpoints = client.object_storage.endpoints()
    assert any(e.region == "us-east" for e in endpoints)
