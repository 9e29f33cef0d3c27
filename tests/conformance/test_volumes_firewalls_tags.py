"""Volumes seen from inside instances; firewalls and tags through linode_api4."""

from __future__ import annotations

import pytest
from linode_api4 import ApiError, Tag

from stager.emulator.sandbox import new_host_key

from .ssh_helpers import connect, host_key_user_data, run, wait_for, wait_status


def _running(client, pubkey, host_key, label):
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04", label=label,
                                             authorized_keys=[pubkey],
                                             metadata={"user_data": host_key_user_data(host_key)})
    wait_status(instance, "running")
    return instance


def test_volume_contents_persist_across_attachments(client, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    first = _running(client, pubkey, host_key, "first")
    second = _running(client, pubkey, host_key, "second")
    volume = client.volume_create("datasets", region="us-east", size=20)
    wait_for(lambda: client.load(type(volume), volume.id).status == "active")
    volume.attach(first.id)
    assert volume.filesystem_path == "/dev/disk/by-id/scsi-0Linode_Volume_datasets"
    with connect(first, key, host_key) as ssh:
        assert run(ssh, "echo shards > ../mnt/datasets/list.txt")[0] == 0
    with pytest.raises(ApiError):  # attached elsewhere
        volume.attach(second.id)
    volume.detach()
    volume.attach(second.id)
    with connect(second, key, host_key) as ssh:
        assert run(ssh, "cat ../mnt/datasets/list.txt")[1] == "shards\n"
    assert [v.id for v in second.volumes()] == [volume.id]
    with pytest.raises(ApiError):  # attached volumes cannot be deleted
        volume.delete()
    volume.detach()
    volume.delete()
    first.delete()
    second.delete()


def test_firewall_with_a_device_and_tags(client, ssh_key):
    instance = client.linode.instance_create("g6-nanode-1", "us-east", booted=False, tags=["stager"])
    rules = {"inbound_policy": "DROP", "outbound_policy": "ACCEPT", "outbound": [],
             "inbound": [{"action": "ACCEPT", "protocol": "TCP", "ports": "22",
                          "addresses": {"ipv4": ["127.0.0.1/32"]}, "label": "ssh-from-controller"}]}
    firewall = client.networking.firewall_create("run-abc-ssh", rules=rules, tags=["stager"])
    firewall.device_create(instance.id)
    assert [d.entity.id for d in firewall.devices] == [instance.id]
    assert [f.id for f in instance.firewalls()] == [firewall.id]
    assert firewall.get_rules()["inbound"][0]["ports"] == "22"
    assert "stager" in [t.label for t in client.tags()]
    tagged = client.load(Tag, "stager").objects
    assert [(type(o).__name__, o.id) for o in tagged] == [("Instance", instance.id)]
    instance.delete()
    assert list(firewall.devices) == []
    firewall.delete()
