"""Connecting to emulated instances over real SSH: readiness, pinned host keys, drops."""

from __future__ import annotations

import socket
import time

import pytest

from stager.remote import (
    HostKeyMismatch,
    Remote,
    SshConnectionError,
    SshTarget,
    SshTimeout,
    new_key_pair,
)


def can_listen_on_port_22(address: str) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, 22))
        except PermissionError:
            return False
    return True


def test_wait_until_ready_rides_out_a_booting_instance(emulator, make_instance):
    emulator.faults.boot_s = 0.6
    instance = make_instance(wait=False)
    if not can_listen_on_port_22(instance.api.ipv4[0]):
        # The sandbox will listen on a port the API names only once it runs.
        pytest.skip("this user cannot listen on port 22, so a booting instance's SSH port is unknown")
    with Remote(instance.target()) as remote:
        started = time.monotonic()
        remote.wait_until_ready(timeout=15)
        assert time.monotonic() - started < 10
        instance.api.invalidate()
        assert instance.api.status == "running"
        assert remote.run("echo ready", stream=False).stdout == "ready\n"


def test_a_host_offering_another_key_is_refused_at_once_and_nothing_runs(instance):
    impostor_key = new_key_pair("expected")
    with Remote(instance.target(host_key=impostor_key)) as remote:
        started = time.monotonic()
        with pytest.raises(HostKeyMismatch) as caught:
            remote.wait_until_ready(timeout=30)  # not retried: no 30 s wait
        assert time.monotonic() - started < 3
        with pytest.raises(HostKeyMismatch):
            remote.run("touch ran-on-impostor")
    message = str(caught.value)
    assert impostor_key.fingerprint in message and instance.host_key.fingerprint in message
    assert instance.target().address in message and "refusing to connect" in message
    with Remote(instance.target()) as honest:
        assert honest.run("test -e ran-on-impostor", check=False, stream=False).exit_code == 1


def test_a_client_key_the_instance_does_not_know_is_refused(instance):
    with Remote(instance.target(client_key=new_key_pair("stranger"))) as remote:
        with pytest.raises(SshConnectionError, match="did not accept stager's client key"):
            remote.run("true")
        with pytest.raises(SshTimeout, match="did not accept"):
            remote.wait_until_ready(timeout=0.5)


def test_waiting_for_a_silent_address_times_out_naming_the_last_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = SshTarget(address="127.0.0.1", port=port, user="root",
                       host_key=new_key_pair().public_line, client_key=new_key_pair())
    with Remote(target, connect_timeout=0.5) as remote:
        started = time.monotonic()
        with pytest.raises(SshTimeout) as caught:
            remote.wait_until_ready(timeout=0.8)
        assert 0.8 <= time.monotonic() - started < 3
    assert "connection refused" in str(caught.value) and caught.value.seconds == 0.8


def test_the_users_ssh_files_are_neither_read_nor_written(instance, tmp_path, monkeypatch):
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host *\n  User nobody\n  Port 1\n  ProxyCommand false\n")
    (ssh_dir / "known_hosts").write_text(f"{instance.target().address} {new_key_pair().public_line}\n")
    before = {p.name: p.read_text() for p in ssh_dir.iterdir()}
    monkeypatch.setenv("HOME", str(tmp_path))
    with Remote(instance.target()) as remote:
        remote.wait_until_ready(timeout=10)
        assert remote.run("echo $USER", stream=False).stdout == "root\n"
    assert {p.name: p.read_text() for p in ssh_dir.iterdir()} == before


def test_the_next_command_after_a_drop_reconnects(emulator, instance, remote):
    emulator.drop_ssh(instance.id)
    assert remote.run("echo again", stream=False).stdout == "again\n"
    assert remote.reconnects == 1


def test_a_command_cut_off_by_a_drop_fails_and_is_not_rerun(emulator, instance, remote):
    emulator.drop_ssh(instance.id, after_s=0.3)
    with pytest.raises(SshConnectionError, match="lost the connection .* while running `echo once >> runs; sleep 5`"):
        remote.run("echo once >> runs; sleep 5")
    assert remote.run("cat runs", stream=False).stdout == "once\n"
