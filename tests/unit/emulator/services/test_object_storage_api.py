"""Object Storage (clusters, endpoints, buckets, keys) through the real linode_api4 client."""

from __future__ import annotations

import re
import warnings

import pytest
from linode_api4 import (
    ApiError,
    ObjectStorageBucket,
    ObjectStorageCluster,
    ObjectStorageKeys,
)

from stager.emulator import catalog
from stager.emulator.objectstorage.models import MAX_KEY_BUCKETS, MAX_KEYS


@pytest.fixture(autouse=True)
def _quiet_deprecations():
    with warnings.catch_warnings():  # linode_api4 deprecates clusters; they are still served
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _field(excinfo) -> str | None:
    return excinfo.value.json["errors"][0].get("field")


def test_clusters_endpoints_types(api):
    client = api.client
    clusters = list(client.object_storage.clusters())
    assert [c.id for c in clusters] == [r.s3_cluster for r in catalog.REGIONS]
    east = client.load(ObjectStorageCluster, "us-east-1")
    assert east.region.id == "us-east" and east.status == "available" and east.domain == "us-east-1.localhost"
    with pytest.raises(ApiError) as excinfo:
        client.load(ObjectStorageCluster, "mars-1")
    assert excinfo.value.status == 404

    endpoints = list(client.object_storage.endpoints())
    assert {e.region for e in endpoints} == {r.id for r in catalog.REGIONS}
    assert all(e.s3_endpoint == f"{catalog.region(e.region).s3_cluster}.localhost" for e in endpoints)
    api.backend.object_storage.s3_endpoint = "http://127.0.0.1:9000"
    assert {e.s3_endpoint for e in client.object_storage.endpoints()} == {"http://127.0.0.1:9000"}
    assert client.object_storage.types()[0].price.monthly == 5.0
    assert client.object_storage.transfer().used == 0


def test_bucket_create_get_list_delete(api):
    client = api.client
    api.backend.object_storage.s3_endpoint = "http://127.0.0.1:9000"
    bucket = client.object_storage.bucket_create("us-east", "stager-data")
    assert (bucket.label, bucket.region, bucket.cluster) == ("stager-data", "us-east", "us-east-1")
    assert bucket.hostname == "stager-data.127.0.0.1:9000" and bucket.s3_endpoint == "http://127.0.0.1:9000"
    assert bucket.objects == 0 and bucket.size == 0
    client.object_storage.bucket_create("eu-central-1", "stager-eu")  # a cluster id works too

    assert sorted(b.label for b in client.object_storage.buckets()) == ["stager-data", "stager-eu"]
    assert [b.label for b in client.object_storage.buckets_in_region("eu-central")] == ["stager-eu"]
    assert [b.label for b in client.object_storage.buckets_in_region("us-east-1")] == ["stager-data"]
    with pytest.raises(ApiError) as excinfo:
        list(client.object_storage.buckets_in_region("mars"))
    assert excinfo.value.status == 404

    fetched = client.load(ObjectStorageBucket, "stager-data", "us-east")
    assert fetched.created.year >= 2024 and fetched.cluster == "us-east-1"
    with pytest.raises(ApiError) as excinfo:
        client.load(ObjectStorageBucket, "stager-data", "eu-central")
    assert excinfo.value.status == 404

    again = client.object_storage.bucket_create("us-east", "stager-data")  # yours already: 200
    assert again.label == "stager-data"
    with pytest.raises(ApiError) as excinfo:
        client.object_storage.bucket_create("eu-central", "stager-data")
    assert excinfo.value.status == 400 and _field(excinfo) == "label"

    api.backend.object_storage.store.put_object("stager-data", "a/b.txt", b"12345")
    assert client.load(ObjectStorageBucket, "stager-data", "us-east").objects == 1
    with pytest.raises(ApiError) as excinfo:
        fetched.delete()
    assert excinfo.value.status == 400 and "empty" in excinfo.value.json["errors"][0]["reason"]
    api.backend.object_storage.store.delete_object("stager-data", "a/b.txt")
    fetched.delete()
    assert api.backend.object_storage.store.get_bucket("stager-data") is None
    with pytest.raises(ApiError) as excinfo:
        client.delete("/object-storage/buckets/us-east/stager-data")
    assert excinfo.value.status == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"region": "us-east"}, "label"),
    ({"label": "Upper", "region": "us-east"}, "label"),
    ({"label": "ab", "region": "us-east"}, "label"),
    ({"label": "x" * 64, "region": "us-east"}, "label"),
    ({"label": "ends-", "region": "us-east"}, "label"),
    ({"label": "two..dots", "region": "us-east"}, "label"),
    ({"label": "under_score", "region": "us-east"}, "label"),
    ({"label": "127.0.0.1", "region": "us-east"}, "label"),
    ({"label": "no-region"}, "region"),
    ({"label": "bad-region", "region": "mars"}, "region"),
    ({"label": "bad-cluster", "cluster": "mars-9"}, "cluster"),
    ({"label": "bad-acl", "region": "us-east", "acl": "everyone"}, "acl"),
])
def test_bucket_create_rejects(api, body, field):
    with pytest.raises(ApiError) as excinfo:
        api.client.post("/object-storage/buckets", data=body)
    assert excinfo.value.status == 400 and _field(excinfo) == field
    assert api.backend.object_storage.store.list_buckets() == []


def test_keys_secret_shown_once(api):
    client = api.client
    key = client.object_storage.keys_create("run-key")
    assert re.fullmatch(r"[A-Z0-9]{20}", key.access_key)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", key.secret_key)
    assert key.limited is False and key.bucket_access == []
    assert {r.id for r in key.regions} == {r.id for r in catalog.REGIONS}

    fetched = client.load(ObjectStorageKeys, key.id)
    assert fetched.secret_key == "[REDACTED]" and fetched.access_key == key.access_key
    listed = client.object_storage.keys()
    assert [k.secret_key for k in listed] == ["[REDACTED]"]

    grant = api.backend.object_storage.grant(key.access_key)
    assert grant.secret_key == key.secret_key and grant.buckets is None
    assert api.backend.object_storage.grant("NOSUCHKEY") is None

    fetched.label = "renamed-key"
    fetched.save()
    assert client.load(ObjectStorageKeys, key.id).label == "renamed-key"
    updated = client.put(f"/object-storage/keys/{key.id}", data={"regions": ["us-east"]})
    assert [r["id"] for r in updated["regions"]] == ["us-east"] and updated["secret_key"] == "[REDACTED]"

    fetched.delete()
    assert api.backend.object_storage.grant(key.access_key) is None
    with pytest.raises(ApiError) as excinfo:
        client.load(ObjectStorageKeys, key.id)
    assert excinfo.value.status == 404


def test_limited_keys(api):
    client = api.client
    client.object_storage.bucket_create("us-east", "data-bucket")
    client.object_storage.bucket_create("us-east", "runs-bucket")
    key = client.object_storage.keys_create("limited", bucket_access=[
        client.object_storage.bucket_access("us-east", "data-bucket", "read_only"),
        {"bucket_name": "runs-bucket", "region": "us-east", "permissions": "read_write"},
    ])
    assert key.limited is True
    assert [(a.bucket_name, a.region, a.cluster, a.permissions) for a in key.bucket_access] == [
        ("data-bucket", "us-east", "us-east-1", "read_only"), ("runs-bucket", "us-east", "us-east-1", "read_write")]
    assert [r.id for r in key.regions] == ["us-east"]
    grant = api.backend.object_storage.grant(key.access_key)
    assert grant.buckets == {"data-bucket": "read_only", "runs-bucket": "read_write"}

    with_cluster = client.post("/object-storage/keys", data={
        "label": "by-cluster", "bucket_access": [{"bucket_name": "data-bucket", "cluster": "us-east-1",
                                                  "permissions": "read_only"}]})
    assert with_cluster["bucket_access"][0]["region"] == "us-east"


@pytest.mark.parametrize(("access", "field"), [
    ([{"bucket_name": "missing", "region": "us-east", "permissions": "read_only"}], "bucket_access[0].bucket_name"),
    ([{"bucket_name": "only-east", "region": "eu-central", "permissions": "read_only"}],
     "bucket_access[0].bucket_name"),
    ([{"bucket_name": "only-east", "region": "us-east", "permissions": "admin"}], "bucket_access[0].permissions"),
    ([{"bucket_name": "only-east", "permissions": "read_only"}], "bucket_access[0].region"),
    ([{"bucket_name": "only-east", "region": "us-east", "permissions": "read_only"}] * 2,
     "bucket_access[1].bucket_name"),
    ([{"bucket_name": "only-east", "region": "us-east", "permissions": "read_only"}] * (MAX_KEY_BUCKETS + 1),
     "bucket_access"),
    ("only-east", "bucket_access"),
])
def test_limited_key_rejects(api, access, field):
    api.client.object_storage.bucket_create("us-east", "only-east")
    with pytest.raises(ApiError) as excinfo:
        api.client.post("/object-storage/keys", data={"label": "bad", "bucket_access": access})
    assert excinfo.value.status == 400 and _field(excinfo) == field
    assert not api.backend.object_storage.keys


def test_at_most_100_keys(api):
    with api.backend.lock:  # 99 directly: a request per key would make this test slow
        for n in range(MAX_KEYS - 1):
            api.backend.object_storage.create_key({"label": f"k{n}"})
    api.client.object_storage.keys_create("the-100th")
    with pytest.raises(ApiError) as excinfo:
        api.client.object_storage.keys_create("one-too-many")
    assert excinfo.value.status == 400
    assert len(list(api.client.object_storage.keys())) == MAX_KEYS


def test_keys_survive_a_restart(make_api, tmp_path):
    first = make_api(tmp_path / "state")
    first.client.object_storage.bucket_create("us-east", "kept-bucket")
    key = first.client.object_storage.keys_create("kept", bucket_access=[
        {"bucket_name": "kept-bucket", "region": "us-east", "permissions": "read_write"}])
    first.stop()

    second = make_api(tmp_path / "state")
    grant = second.backend.object_storage.grant(key.access_key)
    assert grant.secret_key == key.secret_key and grant.buckets == {"kept-bucket": "read_write"}
    assert second.client.load(ObjectStorageKeys, key.id).secret_key == "[REDACTED]"
    assert [b.label for b in second.client.object_storage.buckets()] == ["kept-bucket"]


def test_scopes(api):
    reader = api.client_for("object_storage:read_only")
    assert len(list(reader.object_storage.keys())) == 0
    with pytest.raises(ApiError) as excinfo:
        reader.object_storage.keys_create("nope")
    assert excinfo.value.status == 403
    with pytest.raises(ApiError) as excinfo:
        api.client_for("volumes:read_write").object_storage.buckets().first()
    assert excinfo.value.status == 403
