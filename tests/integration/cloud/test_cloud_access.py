"""Firewalls, Object Storage keys and the provider's clock, against the emulator through linode_api4."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from stager.cloud import BucketAccess, CloudError, firewall_label, stager_tags
from stager.errors import UsageError
from stager.storage.s3 import S3Settings, make_client

HERE = ["127.0.0.1/32"]


def _rules(emulator, firewall_id: int) -> dict:
    return emulator.client().get(f"/networking/firewalls/{firewall_id}/rules")


# -- firewalls --------------------------------------------------------------------------------


def test_a_firewall_drops_everything_but_ssh_from_the_controller(emulator, cloud):
    tags = stager_tags("r1", timedelta(hours=1))
    info = cloud.create_firewall(firewall_label("r1"), ssh_from=HERE, tags=tags)
    assert info.label == "stager-r1-fw" and info.tags == tags and info.created
    rules = _rules(emulator, info.id)
    assert rules["inbound_policy"] == "DROP" and rules["outbound_policy"] == "ACCEPT"
    assert [(r["action"], r["protocol"], r["ports"], r["addresses"]) for r in rules["inbound"]] == [
        ("ACCEPT", "TCP", "22", {"ipv4": ["127.0.0.1/32"]})]
    assert rules["outbound"] == []
    assert [f.id for f in cloud.list_firewalls()] == [info.id]
    assert cloud.list_firewalls(tag="run:r1") == [info] and cloud.list_firewalls(tag="run:r2") == []


def test_creating_a_firewall_again_returns_the_first_and_follows_a_new_address(emulator, cloud):
    tags = stager_tags("r1", timedelta(hours=1))
    first = cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=tags)
    assert cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=tags) == first
    version = _rules(emulator, first.id)["version"]
    moved = cloud.create_firewall("stager-r1-fw", ssh_from=["127.0.0.7"], tags=tags)
    assert moved == first and len(cloud.list_firewalls()) == 1
    rules = _rules(emulator, first.id)
    assert rules["inbound"][0]["addresses"] == {"ipv4": ["127.0.0.7/32"]} and rules["version"] == version + 1


def test_a_firewall_create_whose_answer_was_lost_is_not_made_twice(emulator, lossy_proxy, cloud_for):
    from linode_api4 import LinodeClient

    cloud = cloud_for(LinodeClient(emulator.token, base_url=lossy_proxy.base_url, retry=False))
    lossy_proxy.lose_answers(1, 502, method="POST", path="/v4/networking/firewalls")
    tags = stager_tags("r1", timedelta(hours=1))
    info = cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=tags)
    assert [f.id for f in cloud.list_firewalls()] == [info.id]


def test_a_firewall_label_of_another_run_or_of_the_user_is_refused(emulator, cloud):
    cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=stager_tags("r1", timedelta(hours=1)))
    with pytest.raises(CloudError, match="in use by firewall"):
        cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=stager_tags("r2", timedelta(hours=1)))
    emulator.client().networking.firewall_create("mine", {"inbound_policy": "ACCEPT", "outbound_policy": "ACCEPT"})
    with pytest.raises(CloudError, match="stager did not create"):
        cloud.create_firewall("mine", ssh_from=HERE, tags=stager_tags("r1", timedelta(hours=1)))


def test_bad_firewall_arguments_are_usage_errors(cloud):
    tags = stager_tags("r1", timedelta(hours=1))
    with pytest.raises(UsageError, match="at least one address"):
        cloud.create_firewall("stager-r1-fw", ssh_from=[], tags=tags)
    with pytest.raises(UsageError, match="not an IP address"):
        cloud.create_firewall("stager-r1-fw", ssh_from=["here"], tags=tags)
    with pytest.raises(UsageError, match="3-32 characters"):
        cloud.create_firewall("stager-r20261121-130733-cd6d-fw-0", ssh_from=HERE, tags=tags)
    with pytest.raises(ValueError, match="shorter run id"):
        firewall_label("r" * 30)


def test_deleting_a_firewall_twice(cloud):
    info = cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=stager_tags("r1", timedelta(hours=1)))
    assert cloud.delete_firewall(info.id) is True
    assert cloud.delete_firewall(info.id) is False
    assert cloud.list_firewalls() == []


def test_firewall_calls_are_retried_through_bursts(emulator, cloud_for):
    cloud = cloud_for(emulator.client(retry=False))
    tags = stager_tags("r1", timedelta(hours=1))
    emulator.faults.fail_next(2, 503, path_prefix="/networking/firewalls", retry_after=0)
    info = cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=tags)
    emulator.faults.fail_next(2, 429, method="GET", path_prefix="/networking/firewalls", retry_after=0)
    assert cloud.list_firewalls() == [info]
    emulator.faults.fail_next(2, 503, method="DELETE", path_prefix="/networking/firewalls", retry_after=0)
    assert cloud.delete_firewall(info.id) is True
    assert emulator.faults.api_failures == []


def test_a_firewall_delete_that_keeps_failing_says_how_to_finish_it(emulator, cloud):
    info = cloud.create_firewall("stager-r1-fw", ssh_from=HERE, tags=stager_tags("r1", timedelta(hours=1)))
    emulator.faults.fail_next(30, 500, method="DELETE")
    with pytest.raises(CloudError, match=f"linode-cli firewalls delete {info.id}"):
        cloud.delete_firewall(info.id)
    emulator.faults.clear()
    assert cloud.delete_firewall(info.id) is True


# -- Object Storage keys ------------------------------------------------------------------------


@pytest.fixture
def buckets(emulator):
    client = emulator.client()
    for name in ("stager-data", "stager-runs"):
        client.object_storage.bucket_create("us-east", name)
    return client


def _s3(emulator, key):
    return make_client(S3Settings(emulator.s3_endpoint, "us-east-1", key.access_key, key.secret_key), retries=0)


def test_a_limited_key_is_enforced_by_the_s3_endpoint(emulator, cloud, buckets):
    key = cloud.create_object_key("stager-r1-data-0", [BucketAccess("stager-data", "us-east", "read_only"),
                                                       BucketAccess("stager-runs", "us-east", "read_write")])
    assert key.secret_key and key.access_key and key.secret_key not in repr(key)
    assert key.bucket_access == (BucketAccess("stager-data", "us-east", "read_only"),
                                 BucketAccess("stager-runs", "us-east", "read_write"))
    s3 = _s3(emulator, key)
    s3.put_object(Bucket="stager-runs", Key="r1/out.txt", Body=b"result")
    assert s3.get_object(Bucket="stager-runs", Key="r1/out.txt")["Body"].read() == b"result"
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="stager-data", Key="x.txt", Body=b"nope")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    s3.list_objects_v2(Bucket="stager-data")  # reading is allowed

    listed = cloud.list_object_keys()
    assert [(k.id, k.label, k.secret_key) for k in listed] == [(key.id, "stager-r1-data-0", "")]
    assert listed[0].bucket_access == key.bucket_access

    assert cloud.delete_object_key(key.id) is True
    assert cloud.delete_object_key(key.id) is False
    with pytest.raises(ClientError):
        s3.list_objects_v2(Bucket="stager-runs")


def test_creating_a_key_again_replaces_the_stale_one(emulator, cloud, buckets):
    access = [BucketAccess("stager-runs", "us-east", "read_write")]
    first = cloud.create_object_key("stager-r1-data-0", access)
    second = cloud.create_object_key("stager-r1-data-0", access)
    assert second.id != first.id
    assert [k.id for k in cloud.list_object_keys()] == [second.id]


def test_a_key_create_whose_answer_was_lost_leaves_one_key(emulator, lossy_proxy, cloud_for, buckets):
    from linode_api4 import LinodeClient

    cloud = cloud_for(LinodeClient(emulator.token, base_url=lossy_proxy.base_url, retry=False))
    lossy_proxy.lose_answers(1, 502, method="POST", path="/v4/object-storage/keys")
    key = cloud.create_object_key("stager-r1-data-0", [BucketAccess("stager-runs", "us-east", "read_write")])
    assert [k.id for k in cloud.list_object_keys()] == [key.id]
    _s3(emulator, key).put_object(Bucket="stager-runs", Key="k", Body=b"1")


def test_a_users_own_keys_are_never_touched(emulator, cloud, buckets):
    mine = buckets.object_storage.keys_create("laptop")
    with pytest.raises(UsageError, match="must start with 'stager-'"):
        cloud.create_object_key("laptop", [BucketAccess("stager-runs", "us-east", "read_write")])
    with pytest.raises(UsageError, match="read_only or read_write"):
        cloud.create_object_key("stager-r1-data-0", [BucketAccess("stager-runs", "us-east", "write")])
    with pytest.raises(UsageError, match="at least one bucket"):
        cloud.create_object_key("stager-r1-data-0", [])
    listed = cloud.list_object_keys()
    assert [k.id for k in listed] == [mine.id] and listed[0].bucket_access is None


def test_a_key_for_a_missing_bucket_is_a_cloud_error(cloud, buckets):
    with pytest.raises(CloudError, match="bucket_access"):
        cloud.create_object_key("stager-r1-data-0", [BucketAccess("nope", "us-east", "read_only")])


def test_key_calls_are_retried_through_bursts(emulator, cloud_for, buckets):
    cloud = cloud_for(emulator.client(retry=False))
    emulator.faults.fail_next(2, 503, path_prefix="/object-storage/keys", retry_after=0)
    key = cloud.create_object_key("stager-r1-data-0", [BucketAccess("stager-runs", "us-east", "read_write")])
    emulator.faults.fail_next(2, 429, method="GET", path_prefix="/object-storage/keys", retry_after=0)
    assert [k.id for k in cloud.list_object_keys()] == [key.id]
    emulator.faults.fail_next(2, 503, method="DELETE", path_prefix="/object-storage/keys", retry_after=0)
    assert cloud.delete_object_key(key.id) is True
    assert emulator.faults.api_failures == []
    assert cloud.list_object_keys() == []


# -- the provider's clock -------------------------------------------------------------------------


def test_now_follows_the_emulators_clock(emulator, cloud):
    before = cloud.now()  # nothing seen yet: one GET first
    assert before.tzinfo is not None and before.utcoffset() == timedelta(0)
    emulator.clock.advance(hours=3)
    cloud.list_firewalls()  # any answer brings the new Date
    after = cloud.now()
    assert timedelta(hours=3) - timedelta(seconds=2) <= after - before <= timedelta(hours=3, seconds=5)
    assert cloud.now() >= after
