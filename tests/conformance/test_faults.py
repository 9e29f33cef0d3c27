"""Fault injection: the failures later reliability tests rely on, each observed by a real client."""

from __future__ import annotations

import time

import paramiko
import pytest
import requests
from linode_api4 import ApiError, Instance, LinodeClient

from stager.emulator import Emulator
from stager.emulator.sandbox import new_host_key

from .ssh_helpers import connect, host_key_user_data, run, ssh_endpoint, wait_status


def _running(client, pubkey, host_key):
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[pubkey],
                                             metadata={"user_data": host_key_user_data(host_key)})
    wait_status(instance, "running")
    return instance


def test_next_calls_fail_then_recover(client, emulator):
    emulator.faults.fail_next(2, 500, method="GET", path_prefix="/linode/instances")
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            client.linode.instances()
        assert caught.value.status == 500
    assert list(client.linode.instances()) == []


def test_a_503_carries_retry_after(emulator):
    emulator.faults.fail_next(1, 503, retry_after=7)
    response = requests.get(emulator.base_url + "/regions", timeout=10,
                            headers={"Authorization": f"Bearer {emulator.token}"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"


def test_linode_api4_retries_a_429_by_itself(emulator):
    emulator.faults.fail_next(2, 429, path_prefix="/regions")
    client = LinodeClient(emulator.token, base_url=emulator.base_url, retry_rate_limit_interval=0.05)
    assert client.regions()  # two 429s absorbed by the client's own retry


def test_failed_boot_ends_offline_with_a_failed_event(client, emulator, ssh_key):
    emulator.faults.failing_boots = 1
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[ssh_key[1]])
    wait_status(instance, "offline")
    event = next(e for e in client.account.events() if e.action == "linode_create")
    assert event.status == "failed"
    instance.boot()
    wait_status(instance, "running")
    instance.delete()


def test_slow_boot(client, emulator, ssh_key):
    emulator.faults.boot_s = 0.5
    start = time.monotonic()
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[ssh_key[1]])
    wait_status(instance, "running")
    assert time.monotonic() - start >= 0.5
    instance.delete()


def test_ssh_dropped_mid_command(client, emulator, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    instance = _running(client, pubkey, host_key)
    with connect(instance, key, host_key) as ssh:
        emulator.drop_ssh(instance.id, after_s=0.3)
        _, stdout, _ = ssh.exec_command("echo started; sleep 5; echo never")
        assert stdout.readline().strip() == "started"
        assert "never" not in stdout.read().decode()
        assert not ssh.get_transport().is_active()
    with connect(instance, key, host_key) as ssh:  # the instance itself is fine
        assert run(ssh, "true")[0] == 0
    instance.delete()


def test_an_instance_vanishes(client, emulator, ssh_key):
    key, pubkey = ssh_key
    host_key = new_host_key()
    instance = _running(client, pubkey, host_key)
    address, port = ssh_endpoint(instance)
    emulator.vanish(instance.id)
    with pytest.raises(ApiError) as caught:
        client.load(Instance, instance.id)
    assert caught.value.status == 404
    with pytest.raises((OSError, paramiko.SSHException)):
        paramiko.Transport((address, port)).start_client(timeout=2)


def test_fault_control_over_http(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    url = emulator.url + "/_emulator/faults"
    assert requests.post(url, json={"fail_next": {"count": 1, "status": 500}}, headers=headers,
                         timeout=10).status_code == 200
    assert requests.get(emulator.base_url + "/regions", headers=headers, timeout=10).status_code == 500
    assert requests.post(url, json={"no_such_fault": 1}, headers=headers, timeout=10).status_code == 400
    assert requests.post(url, json={"clear": True}, timeout=10).status_code == 401


def test_instance_creates_are_rate_limited(tmp_path, ssh_key):
    with Emulator(tmp_path) as emulator:  # rate limits on, as Linode's
        client = LinodeClient(emulator.token, base_url=emulator.base_url, retry=False)
        for n in range(10):
            client.linode.instance_create("g6-nanode-1", "us-east", label=f"burst-{n}", booted=False)
        with pytest.raises(ApiError) as caught:
            client.linode.instance_create("g6-nanode-1", "us-east", label="burst-10", booted=False)
        assert caught.value.status == 429
        response = requests.post(emulator.base_url + "/linode/instances", timeout=10,
                                 json={"type": "g6-nanode-1", "region": "us-east", "booted": False},
                                 headers={"Authorization": f"Bearer {emulator.token}"})
        assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 30
        assert len(client.linode.instances()) == 10
        emulator.reset()
