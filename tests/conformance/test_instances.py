"""Instances through linode_api4, and their sandboxes through real SSH."""

from __future__ import annotations

import paramiko
import pytest
from linode_api4 import ApiError, Instance

from stager.emulator.sandbox import new_host_key

from .ssh_helpers import connect, host_key_user_data, run, wait_status


def _create(client, pubkey, **kwargs):
    created = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                            authorized_keys=[pubkey], **kwargs)
    return created[0] if isinstance(created, tuple) else created


def test_create_run_ssh_and_delete(client, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    instance = _create(client, pubkey, label="train-1", tags=["stager", "run:abc"],
                       metadata={"user_data": host_key_user_data(host_key)})
    assert instance.status == "provisioning"
    wait_status(instance, "running")
    assert instance.ipv4[0].startswith("127.")
    with connect(instance, key, host_key) as ssh:
        code, out, _ = run(ssh, "echo hello > greeting && cat greeting && pwd")
        assert code == 0 and out.splitlines()[0] == "hello"
        assert run(ssh, "exit 3")[0] == 3
    assert [d.filesystem for d in instance.disks] == ["ext4", "swap"]
    instance.delete()
    with pytest.raises(ApiError) as caught:
        client.load(Instance, instance.id)
    assert caught.value.status == 404


def test_only_the_given_keys_log_in(client, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    instance = _create(client, pubkey, metadata={"user_data": host_key_user_data(host_key)})
    wait_status(instance, "running")
    with pytest.raises(paramiko.AuthenticationException):
        connect(instance, new_host_key(), host_key)
    with pytest.raises(paramiko.SSHException):  # a client pinning another host key refuses the server
        connect(instance, key, new_host_key())
    instance.delete()


def test_labels_are_unique_and_updates_apply(client, ssh_key):
    _, pubkey = ssh_key
    first = client.linode.instance_create("g6-nanode-1", "us-east", label="same-name", booted=False)
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g6-nanode-1", "us-east", label="same-name", booted=False)
    assert caught.value.status == 400 and caught.value.json["errors"][0]["field"] == "label"
    first.label = "renamed"
    first.tags = ["stager"]
    first.save()
    again = client.load(Instance, first.id)
    assert (again.label, again.tags) == ("renamed", ["stager"])
    first.delete()


def test_statuses_move_like_linodes(client, ssh_key, emulator):
    _, pubkey = ssh_key
    instance = _create(client, pubkey)
    wait_status(instance, "running")
    emulator.faults.shutdown_s = 0.3
    instance.shutdown()
    instance.invalidate()
    assert instance.status == "shutting_down"
    wait_status(instance, "offline")
    emulator.faults.boot_s = 0.3
    instance.boot()
    instance.invalidate()
    assert instance.status == "booting"
    wait_status(instance, "running")
    instance.reboot()
    instance.invalidate()
    assert instance.status == "rebooting"
    wait_status(instance, "running")
    actions = [(e.action, e.status) for e in client.account.events() if e.entity and e.entity.id == instance.id]
    assert ("linode_create", "finished") in actions
    assert ("linode_shutdown", "finished") in actions
    assert ("linode_boot", "finished") in actions and ("linode_reboot", "finished") in actions
    instance.delete()


def test_event_poller_sees_the_create(client, ssh_key):
    _, pubkey = ssh_key
    poller = client.polling.event_poller_create("linode", "linode_create")
    instance = _create(client, pubkey)
    poller.set_entity_id(instance.id)
    event = poller.wait_for_next_event_finished(timeout=20, interval=0.05)
    assert event.status == "finished" and event.entity.id == instance.id
    instance.delete()


def test_gpu_capacity_runs_out(client, emulator):
    emulator.faults.gpu_capacity["us-east"] = 1
    first = client.linode.instance_create("g1-gpu-rtx6000-1", "us-east", booted=False)
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g1-gpu-rtx6000-1", "us-east", booted=False)
    assert caught.value.status == 400 and "capacity" in caught.value.json["errors"][0]["reason"]
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g1-gpu-rtx6000-1", "us-ord", booted=False)
    assert "not available" in caught.value.json["errors"][0]["reason"]
    first.delete()


def test_user_data_limit_and_bad_keys(client):
    import base64

    too_big = base64.b64encode(b"x" * 65536).decode()
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g6-nanode-1", "us-east", booted=False, metadata={"user_data": too_big})
    assert caught.value.json["errors"][0]["field"] == "metadata.user_data"
    with pytest.raises(ApiError) as caught:  # linode_api4 checks key prefixes itself; the server checks the rest
        client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                      authorized_keys=["ssh-ed25519"])
    assert caught.value.json["errors"][0]["field"] == "authorized_keys"
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04", root_pass="short")
    assert caught.value.json["errors"][0]["field"] == "root_pass"
