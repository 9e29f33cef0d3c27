"""Instances through LinodeCloud against the emulator: lifecycle, idempotent creates, failures."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from linode_api4 import LinodeClient

from stager.cloud import CapacityError, CloudError, CloudTimeout
from stager.errors import UsageError


def test_create_wait_capture_and_delete(cloud, make_spec):
    spec = make_spec(role="builder")
    info = cloud.create_instance(spec)
    assert (info.label, info.plan, info.region, info.image) == (spec.label, "g6-nanode-1", "us-east", spec.image)
    assert info.status == "provisioning" and set(spec.tags) <= set(info.tags)

    info = cloud.wait_instance(info.id, timeout=10)
    assert info.status == "running"
    assert ipaddress.ip_address(info.ipv4).is_loopback
    assert info.ssh_port > 0 and info.private_ipv4 is None and info.created is not None
    assert cloud.find_instance(spec.label) == info
    assert [i.id for i in cloud.list_instances(tag="run:r1")] == [info.id]
    assert cloud.list_instances(tag="run:other") == []

    cloud.shutdown_instance(info.id, timeout=10)
    assert cloud.get_instance(info.id).status == "offline"
    image = cloud.capture_image(info.id, label="stager-gold-abc", description="gold image for tests",
                                tags=("stager", "recipe:abc"))
    assert image.status == "creating" and image.id.startswith("private/")
    image = cloud.wait_image(image.id, timeout=10)
    assert (image.status, image.label, image.description) == ("available", "stager-gold-abc", "gold image for tests")
    assert image.size_mb >= 1 and not image.is_public
    assert [i.id for i in cloud.list_images(tag="recipe:abc")] == [image.id]
    assert cloud.list_images(tag="recipe:other") == []

    assert cloud.delete_image(image.id) is True
    assert cloud.get_image(image.id) is None
    assert cloud.delete_instance(info.id) is True
    assert cloud.get_instance(info.id) is None


def test_creating_twice_returns_the_same_instance(cloud, make_spec):
    spec = make_spec()
    first = cloud.create_instance(spec)
    again = cloud.create_instance(spec)
    assert again.id == first.id
    assert len(cloud.list_instances(tag="run:r1")) == 1
    cloud.delete_instance(first.id)


@pytest.mark.parametrize("lost_status", [502, 503])
def test_a_create_whose_answer_was_lost_makes_one_instance(emulator, lossy_proxy, cloud_for, make_spec,
                                                          lost_status):
    client = LinodeClient(emulator.token, base_url=lossy_proxy.base_url, retry_rate_limit_interval=0.01)

    # Without a label to find it by, the retry that linode_api4 makes after a lost 502
    # creates a second instance: the danger the idempotent create exists for.
    lossy_proxy.lose_answers(1, 502, method="POST", path="/v4/linode/instances")
    client.linode.instance_create("g6-nanode-1", "us-east", booted=False)
    assert len(emulator.backend.instances.list_instances()) == 2
    for instance in client.linode.instances():
        instance.delete()

    cloud = cloud_for(client)
    spec = make_spec()
    lossy_proxy.forwarded.clear()
    lossy_proxy.lose_answers(1, lost_status, method="POST", path="/v4/linode/instances")
    info = cloud.create_instance(spec)
    posts = [call for call in lossy_proxy.forwarded if call[0] == "POST"]
    # 502: linode_api4 retried the POST and met the label; 503: stager looked the label up first.
    assert len(posts) == (2 if lost_status == 502 else 1)
    assert [i.label for i in emulator.backend.instances.list_instances()] == [spec.label]
    assert info.label == spec.label
    cloud.delete_instance(info.id)


def test_a_label_stager_did_not_create_is_left_alone(emulator, cloud, make_spec):
    spec = make_spec()
    foreign = emulator.client().linode.instance_create("g6-nanode-1", "us-east", label=spec.label, tags=["web"],
                                                       booted=False)
    with pytest.raises(CloudError, match="in use by a resource stager did not create"):
        cloud.create_instance(spec)
    other_run = make_spec(run="r2", label=spec.label)
    foreign.tags = ["stager", "run:r1"]
    foreign.save()
    with pytest.raises(CloudError, match="of run r1, not of run r2"):
        cloud.create_instance(other_run)
    assert len(emulator.backend.instances.list_instances()) == 1
    foreign.delete()


def test_no_capacity_names_alternatives_with_prices(emulator, cloud, make_spec):
    emulator.faults.gpu_capacity = {"us-east": 0}
    spec = make_spec(role="gpu", plan="g1-gpu-rtx6000-1")
    with pytest.raises(CapacityError) as caught:
        cloud.create_instance(spec)
    error = caught.value
    assert (error.plan, error.region) == ("g1-gpu-rtx6000-1", "us-east")
    assert error.alternatives[0].plan == "g2-gpu-rtx4000a1-s" and error.alternatives[0].hourly_usd == 0.52
    assert {a.region for a in error.alternatives if a.plan == "g1-gpu-rtx6000-1"} == set(cloud.gpu_regions()) - {
        "us-east"}
    prices = [a.hourly_usd for a in error.alternatives]
    assert prices == sorted(prices)
    message = str(error)
    assert "\n" not in message and "No capacity" in message
    assert "g2-gpu-rtx4000a1-s in us-east at $0.52/h" in message and "in eu-central at $1.50/h" in message
    assert emulator.backend.instances.list_instances() == []


def test_a_gpu_plan_where_none_are_sold_is_a_capacity_error_too(emulator, cloud, make_spec):
    assert "us-ord" not in cloud.gpu_regions()
    with pytest.raises(CapacityError) as caught:
        cloud.create_instance(make_spec(role="gpu", plan="g1-gpu-rtx6000-1", region="us-ord"))
    assert caught.value.alternatives and all(a.region != "us-ord" for a in caught.value.alternatives)
    assert "GPU plans are not available in us-ord" in str(caught.value)


def test_a_failed_boot_is_an_error_not_a_wait(emulator, cloud, make_spec):
    emulator.faults.failing_boots = 1
    info = cloud.create_instance(make_spec())
    with pytest.raises(CloudError, match="failed to boot") as caught:
        cloud.wait_instance(info.id, timeout=10)
    assert not isinstance(caught.value, CloudTimeout)
    assert info.label in str(caught.value)
    cloud.delete_instance(info.id)


def test_a_slow_boot_times_out_with_the_last_status(emulator, cloud, make_spec):
    emulator.faults.boot_s = 1.0
    info = cloud.create_instance(make_spec())
    with pytest.raises(CloudTimeout) as caught:
        cloud.wait_instance(info.id, timeout=0.3)
    assert f"instance {info.id} to be running" in str(caught.value) and "booting" in str(caught.value)
    cloud.delete_instance(info.id)


def test_missing_instances_read_as_none_and_delete_as_false(cloud):
    assert cloud.get_instance(987654) is None
    assert cloud.find_instance("stager-nobody-train-0") is None
    assert cloud.delete_instance(987654) is False


def test_user_data_and_private_ip_reach_the_instance(emulator, cloud, make_spec):
    text = "#cloud-config\nruncmd: [echo hi]\n"
    info = cloud.create_instance(make_spec(user_data=text, private_ip=True))
    assert info.private_ipv4 is not None and info.private_ipv4.startswith("192.168.")
    stored = emulator.backend.instances.get_instance(info.id).user_data
    assert base64.b64decode(stored).decode() == text
    cloud.delete_instance(info.id)


def test_a_spec_linode_would_refuse_is_refused_before_any_call(emulator, cloud, make_spec):
    with pytest.raises(UsageError, match="not an OpenSSH public key"):
        cloud.create_instance(make_spec(authorized_keys=("/etc/passwd",)))
    with pytest.raises(UsageError, match="65535"):
        cloud.create_instance(make_spec(user_data="x" * 70000))
    assert emulator.backend.instances.list_instances() == []


def test_catalogue_lists_plans_with_prices_and_gpu_regions(cloud):
    plan = cloud.plan("g1-gpu-rtx6000-1")
    assert (plan.gpus, plan.hourly_usd, plan.monthly_usd) == (1, 1.5, 1000.0)
    assert "us-east" in cloud.gpu_regions() and "us-ord" in cloud.regions()
    assert {p.id for p in cloud.plans()} >= {"g6-nanode-1", "g2-gpu-rtx4000a1-s"}
    with pytest.raises(UsageError, match="unknown plan"):
        cloud.plan("g9-imaginary")
