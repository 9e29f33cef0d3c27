"""Host keys from cloud-init user data, pinned by a client that trusts nothing else."""

from __future__ import annotations

import base64
import gzip
import io

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from stager.emulator.sandbox import host_key_from_user_data, new_host_key


def _new_ed25519_pem() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        .decode()
    )


def _user_data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cloud_config(field: str, pem: str) -> str:
    body = "\n".join("    " + line for line in pem.strip().splitlines())
    return f"#cloud-config\nssh_pwauth: false\nssh_keys:\n  {field}: |\n{body}\n"


def _pinned_client(host, key: paramiko.PKey) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    client.get_host_keys().add(name, key.get_name(), paramiko.PKey.from_type_string(key.get_name(), key.asbytes()))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def test_host_key_from_user_data_is_the_one_presented(make_host, client_key):
    pem = _new_ed25519_pem()
    pinned = paramiko.Ed25519Key.from_private_key(io.StringIO(pem))
    key = host_key_from_user_data(_user_data(_cloud_config("ed25519_private", pem)))
    host = make_host(host_key=key)
    client = _pinned_client(host, pinned)
    try:
        client.connect(host.address, host.port, username="root", pkey=client_key, look_for_keys=False,
                       allow_agent=False, timeout=5)
        _, out, _ = client.exec_command("echo pinned")
        assert out.read() == b"pinned\n"
    finally:
        client.close()


def test_client_pinning_another_key_refuses_the_host(make_host, client_key):
    host = make_host()
    client = _pinned_client(host, new_host_key())
    try:
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(host.address, host.port, username="root", pkey=client_key, look_for_keys=False,
                           allow_agent=False, timeout=5)
    finally:
        client.close()


def test_rsa_key_and_gzip_user_data():
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    text = _cloud_config("rsa_private", pem)
    key = host_key_from_user_data(base64.b64encode(gzip.compress(text.encode())).decode())
    assert isinstance(key, paramiko.RSAKey)
    assert key.get_base64() == paramiko.RSAKey.from_private_key(io.StringIO(pem)).get_base64()


@pytest.mark.parametrize(
    "user_data",
    [None, "", _user_data("#cloud-config\npackages: [git]\n"), _user_data("#!/bin/bash\necho hi\n"),
     _user_data("#cloud-config\n")],
)
def test_no_host_key_gives_none(user_data):
    assert host_key_from_user_data(user_data) is None


@pytest.mark.parametrize(
    ("user_data", "message"),
    [
        ("not base64!", "not valid base64"),
        (_user_data("#cloud-config\nssh_keys: [\n"), "not valid YAML"),
        (_user_data("#cloud-config\n- a list\n"), "must be a YAML mapping"),
        (_user_data("#cloud-config\nssh_keys: 3\n"), "'ssh_keys' must be a mapping"),
        (_user_data("#cloud-config\nssh_keys:\n  ed25519_private: nonsense\n"), "ed25519_private is not a valid"),
    ],
)
def test_malformed_user_data_is_a_value_error(user_data, message):
    with pytest.raises(ValueError, match=message):
        host_key_from_user_data(user_data)


@pytest.mark.parametrize("source", ["new", "user_data"])
def test_host_keys_can_be_saved_and_read_back(tmp_path, source):
    if source == "new":
        key = new_host_key()
    else:
        key = host_key_from_user_data(_user_data(_cloud_config("ed25519_private", _new_ed25519_pem())))
    path = tmp_path / "host_key"
    key.write_private_key_file(str(path))
    assert path.stat().st_mode & 0o777 == 0o600
    assert paramiko.Ed25519Key.from_private_key_file(str(path)) == key
    key.write_private_key_file(str(path), password="secret")
    assert paramiko.Ed25519Key.from_private_key_file(str(path), password="secret") == key
