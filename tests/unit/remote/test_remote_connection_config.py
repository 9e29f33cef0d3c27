"""The fabric connection stager builds: pinned host key, only the run's key, nothing of the user's read."""

from __future__ import annotations

import socket

import paramiko
import pytest

from stager.remote.connection import SshTarget, open_connection, pinned_connection
from stager.remote.errors import SshConnectionError
from stager.remote.keys import new_key_pair


@pytest.fixture(scope="module")
def keys():
    return new_key_pair("client"), new_key_pair("host")


def target(keys, port: int = 22, address: str = "127.0.0.7") -> SshTarget:
    client, host = keys
    return SshTarget(address=address, port=port, user="root", host_key=host.public_line, client_key=client)


def test_the_host_key_is_pinned_under_the_name_paramiko_looks_up(keys):
    for port, name in ((22, "127.0.0.7"), (2222, "[127.0.0.7]:2222")):
        connection = pinned_connection(target(keys, port), timeout=1)
        client = connection.client
        assert isinstance(client._policy, paramiko.RejectPolicy)
        pinned = client.get_host_keys()
        assert list(pinned.keys()) == [name]
        assert pinned.lookup(name)["ssh-ed25519"].asbytes() == keys[1].pkey().asbytes()
        assert len(client._system_host_keys) == 0  # ~/.ssh/known_hosts never loaded


def test_nothing_of_the_users_ssh_setup_is_used(keys, tmp_path, monkeypatch):
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host *\n  User mallory\n  Port 2\n  IdentityFile ~/.ssh/other\n"
                                     "  ProxyCommand false\n  ForwardAgent yes\n")
    (ssh_dir / "known_hosts").write_text(f"127.0.0.7 {new_key_pair().public_line}\n")
    (tmp_path / ".fabric.yaml").write_text("user: mallory\nconnect_kwargs: {key_filename: /nope}\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    connection = pinned_connection(target(keys), timeout=1)
    assert (connection.host, connection.port, connection.user) == ("127.0.0.7", 22, "root")
    assert connection.ssh_config == {"hostname": "127.0.0.7"}
    assert not connection.gateway and not connection.forward_agent
    kwargs = connection.connect_kwargs
    assert kwargs["allow_agent"] is False and kwargs["look_for_keys"] is False
    assert "key_filename" not in kwargs
    assert kwargs["pkey"].asbytes() == keys[0].pkey().asbytes()


def test_the_client_key_never_shows_in_the_targets_repr(keys):
    text = repr(target(keys))
    assert "PRIVATE" not in text and keys[0].private_pem.splitlines()[1] not in text


@pytest.mark.parametrize("field, value", [("port", 0), ("port", 70000), ("address", ""), ("user", ""),
                                          ("host_key", "ssh-ed25519 not-base64")])
def test_a_bad_target_is_refused_when_made(keys, field, value):
    args = {"address": "127.0.0.7", "port": 22, "user": "root", "host_key": keys[1].public_line,
            "client_key": keys[0], field: value}
    with pytest.raises(ValueError):
        SshTarget(**args)


def test_a_closed_port_fails_to_connect_with_a_reason(keys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SshConnectionError, match="cannot connect to root@127.0.0.1 port .*: connection refused"):
        open_connection(target(keys, port, "127.0.0.1"), timeout=1)
