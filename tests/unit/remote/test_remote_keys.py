"""Key pairs stager makes, saves, loads and pins."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess

import paramiko
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stager.remote.errors import KeyFileError
from stager.remote.keys import (
    KeyPair,
    fingerprint,
    host_key_cloud_config,
    load_key_pair,
    new_key_pair,
    public_key,
)


def test_a_new_pair_is_openssh_ed25519_that_paramiko_loads():
    pair = new_key_pair("run-42")
    assert pair.private_pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    kind, blob, comment = pair.public_line.split()
    assert (kind, comment) == ("ssh-ed25519", "run-42")
    key = pair.pkey()
    assert isinstance(key, paramiko.Ed25519Key)
    assert key.get_base64() == blob
    assert new_key_pair().public_line != pair.public_line


def test_the_private_key_never_shows_in_repr_or_str():
    pair = new_key_pair()
    secret = pair.private_pem.splitlines()[1]
    for text in (repr(pair), str(pair), repr([pair]), f"{pair}"):
        assert secret not in text
        assert "PRIVATE" not in text
    assert pair.fingerprint in repr(pair)


def test_the_fingerprint_is_what_ssh_keygen_and_paramiko_print(tmp_path):
    pair = new_key_pair("fp")
    assert pair.fingerprint == pair.pkey().fingerprint  # paramiko: "SHA256:..."
    assert fingerprint(pair.public_line) == pair.fingerprint
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed; paramiko's fingerprint was checked")
    pub = tmp_path / "key.pub"
    pair.write_public(pub)
    printed = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout
    assert printed.split()[1] == pair.fingerprint


def test_write_private_is_0600_and_loads_back_with_its_comment(tmp_path):
    pair = new_key_pair("kept comment")
    path = tmp_path / "keys" / "id_ed25519"
    pair.write_private(path)
    pair.write_public(path.with_name("id_ed25519.pub"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["id_ed25519", "id_ed25519.pub"]  # no temp file left
    assert load_key_pair(path) == pair
    pair.write_private(path)  # replacing works too
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_loading_without_a_public_file_uses_the_default_comment(tmp_path):
    pair = new_key_pair("lost")
    path = tmp_path / "key"
    pair.write_private(path)
    loaded = load_key_pair(path)
    assert loaded.private_pem == pair.private_pem
    assert loaded.public_line.split()[:2] == pair.public_line.split()[:2]
    assert loaded.comment == "stager"


def test_ssh_keygen_keys_load(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(path)], check=True)
    pair = load_key_pair(path)
    assert pair.public_line == path.with_name("id.pub").read_text().strip()


def test_unusable_key_files_are_refused_clearly(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key_pair(tmp_path / "absent")
    (tmp_path / "junk").write_text("not a key\n")
    with pytest.raises(KeyFileError, match="not an OpenSSH private key"):
        load_key_pair(tmp_path / "junk")
    ecdsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    (tmp_path / "ecdsa").write_bytes(ecdsa)
    with pytest.raises(KeyFileError, match="Ed25519 keys only"):
        load_key_pair(tmp_path / "ecdsa")
    encrypted = serialization.load_ssh_private_key(new_key_pair().private_pem.encode(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    (tmp_path / "encrypted").write_bytes(encrypted)
    with pytest.raises(KeyFileError, match="passphrase-protected"):
        load_key_pair(tmp_path / "encrypted")


def test_a_pair_that_does_not_belong_together_is_refused():
    first, second = new_key_pair(), new_key_pair()
    with pytest.raises(ValueError, match="does not belong"):
        KeyPair(private_pem=first.private_pem, public_line=second.public_line)
    with pytest.raises(ValueError) as caught:
        KeyPair(private_pem="garbage", public_line=first.public_line)
    assert "garbage" not in str(caught.value)


def test_the_cloud_config_pins_the_host_key_as_the_emulator_and_cloud_init_read_it():
    from stager.emulator.sandbox import host_key_from_user_data

    host = new_key_pair("host")
    document = host_key_cloud_config(host)
    assert document.startswith("#cloud-config\n")
    parsed = yaml.safe_load(document)
    assert parsed == {"ssh_keys": {"ed25519_private": host.private_pem, "ed25519_public": host.public_line}}
    served = host_key_from_user_data(base64.b64encode(document.encode()).decode())
    assert served.asbytes() == host.pkey().asbytes()


def test_public_key_reads_a_line_and_refuses_a_mangled_one():
    pair = new_key_pair()
    assert public_key(pair.public_line).asbytes() == pair.pkey().asbytes()
    kind, blob, _ = pair.public_line.split()
    for bad in ("", "ssh-ed25519", f"ssh-rsa {blob}", f"{kind} {blob[:-4]}!!!!"):
        with pytest.raises(ValueError):
            public_key(bad)
