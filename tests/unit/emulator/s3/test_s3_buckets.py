"""Bucket operations through a real boto3 client."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from stager.emulator.s3 import BucketError, BucketStore


def test_create_list_head_locate_delete(client):
    client.create_bucket(Bucket="first-bucket")
    client.create_bucket(Bucket="second.bucket", CreateBucketConfiguration={"LocationConstraint": "us-ord"})

    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert names == ["first-bucket", "second.bucket"]
    assert client.head_bucket(Bucket="first-bucket")["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == (
        "us-east-1"
    )
    assert client.get_bucket_location(Bucket="second.bucket")["LocationConstraint"] == "us-ord"

    client.delete_bucket(Bucket="first-bucket")
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["second.bucket"]
    with pytest.raises(ClientError, match="404"):
        client.head_bucket(Bucket="first-bucket")


def test_delete_non_empty_bucket_is_refused(client, bucket):
    client.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError, match=r"\(BucketNotEmpty\)") as err:
        client.delete_bucket(Bucket=bucket)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    client.delete_object(Bucket=bucket, Key="x")
    client.delete_bucket(Bucket=bucket)


def test_create_existing_bucket_is_owned_by_you(client, bucket):
    with pytest.raises(ClientError, match=r"\(BucketAlreadyOwnedByYou\)"):
        client.create_bucket(Bucket=bucket)


@pytest.mark.parametrize("name", ["ab", "Upper-Case", "under_score", "-dash-first", "a..b", "127.0.0.1", "x" * 64])
def test_invalid_bucket_names(client, name):
    with pytest.raises(ClientError, match=r"\(InvalidBucketName\)"):
        client.create_bucket(Bucket=name)


def test_missing_bucket(client):
    with pytest.raises(ClientError, match=r"\(NoSuchBucket\)"):
        client.list_objects_v2(Bucket="no-such-bucket")
    with pytest.raises(ClientError, match=r"\(NoSuchBucket\)"):
        client.put_object(Bucket="no-such-bucket", Key="k", Body=b"")


def test_store_reports_counts_and_sizes(store: BucketStore):
    store.create_bucket("counted", "us-ord")
    store.put_object("counted", "a", b"12345")
    store.put_object("counted", "b", b"678")
    store.put_object("counted", "a", b"1")  # overwrite: counted once, new size
    info = store.get_bucket("counted")
    assert (info.name, info.region, info.objects, info.size) == ("counted", "us-ord", 2, 4)
    assert info.created.tzinfo is not None
    assert [b.name for b in store.list_buckets()] == ["counted"]


def test_store_bucket_errors(store: BucketStore):
    store.create_bucket("taken", "us-east-1")
    with pytest.raises(BucketError) as err:
        store.create_bucket("taken", "us-east-1")
    assert (err.value.code, err.value.status) == ("BucketAlreadyExists", 409)
    with pytest.raises(BucketError, match="InvalidBucketName"):
        store.create_bucket("../escape", "us-east-1")
    assert store.get_bucket("..") is None
    assert store.get_bucket("../taken") is None
    store.put_object("taken", "k", b"v")
    with pytest.raises(BucketError, match="BucketNotEmpty"):
        store.delete_bucket("taken")
    store.delete_bucket("taken", force=True)
    assert store.get_bucket("taken") is None
