"""SSH key pairs stager makes for itself: the client key of a run and the host key it pins.

Keys are Ed25519 only, generated with ``cryptography`` and kept as OpenSSH text
(the format ``ssh-keygen`` writes and paramiko reads). A run's private key is a
secret: `KeyPair` never shows it in its repr, and files holding it are written
with mode 0600 and appear complete or not at all.

Not supported: RSA and ECDSA keys, passphrase-protected private keys, and
OpenSSH certificates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from stager.remote.errors import KeyFileError

__all__ = [
    "KeyPair",
    "fingerprint",
    "host_key_cloud_config",
    "load_key_pair",
    "new_key_pair",
    "public_key",
]

KEY_TYPE = "ssh-ed25519"
DEFAULT_COMMENT = "stager"


@dataclass(frozen=True, repr=False)
class KeyPair:
    """An Ed25519 key pair as OpenSSH text.

    Raises (on construction):
        ValueError: the texts are not an Ed25519 pair that belongs together.
    """

    private_pem: str  # OpenSSH-format private key text: a secret, never shown
    public_line: str  # "ssh-ed25519 AAAA... <comment>", as in authorized_keys

    def __post_init__(self) -> None:
        private = _load_private(self.private_pem.encode("ascii", "replace"))
        derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        kind, blob = _split_public_line(self.public_line)
        if kind != KEY_TYPE:
            raise ValueError(f"public key type is {kind!r}; only {KEY_TYPE} keys are supported")
        if base64.b64decode(derived.split()[1]) != blob:
            raise ValueError("the public key line does not belong to the private key")

    def __repr__(self) -> str:
        return f"KeyPair({self.fingerprint}, comment={self.comment!r})"

    @property
    def comment(self) -> str:
        """The public line's comment ("" when it has none)."""
        parts = self.public_line.split(None, 2)
        return parts[2] if len(parts) == 3 else ""

    @property
    def fingerprint(self) -> str:
        """``SHA256:<base64>`` as ``ssh-keygen -l`` prints it."""
        return fingerprint(self.public_line)

    def pkey(self) -> paramiko.PKey:
        """The private key as paramiko uses it for authentication or as a server's host key."""
        return paramiko.Ed25519Key.from_private_key(io.StringIO(self.private_pem))

    def write_private(self, path: Path) -> None:
        """Write the private key to ``path`` with mode 0600, replacing it atomically.

        Parent directories are created (mode 0700).

        Raises:
            OSError: the file cannot be written.
        """
        _write_atomically(Path(path), self.private_pem, mode=0o600)

    def write_public(self, path: Path) -> None:
        """Write the public line to ``path`` (mode 0644), as ``ssh-keygen`` writes ``<key>.pub``.

        Raises:
            OSError: the file cannot be written.
        """
        _write_atomically(Path(path), self.public_line + "\n", mode=0o644)


def new_key_pair(comment: str = DEFAULT_COMMENT) -> KeyPair:
    """A fresh Ed25519 key pair; ``comment`` ends its public line.

    Raises:
        ValueError: ``comment`` spans lines.
    """
    if "\n" in comment or "\r" in comment:
        raise ValueError("a key comment must be one line")
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode("ascii") + (f" {comment}" if comment else "")
    return KeyPair(private_pem=pem, public_line=line)


def load_key_pair(path: Path) -> KeyPair:
    """Read an unencrypted OpenSSH Ed25519 private key file.

    The comment comes from ``<path>.pub`` when that file holds the same key
    (the private file's own comment is not read), else it is ``stager``.

    Raises:
        KeyFileError: the file is missing, unreadable, encrypted, malformed or
            not an Ed25519 key.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the private key {path}: {exc.strerror or exc}") from None
    try:
        private = _load_private(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode("ascii")
    comment = _comment_from_public_file(path.with_name(path.name + ".pub"), line)
    return KeyPair(private_pem=data.decode("ascii"), public_line=f"{line} {comment}" if comment else line)


def host_key_cloud_config(host_key: KeyPair) -> str:
    """A ``#cloud-config`` document that installs ``host_key`` as the instance's Ed25519 host key.

    Plain text: the cloud layer base64-encodes it into ``metadata.user_data``.
    It holds the private key, so it is as secret as the key itself.
    """
    document = {"ssh_keys": {"ed25519_private": host_key.private_pem, "ed25519_public": host_key.public_line}}
    return "#cloud-config\n" + yaml.dump(document, Dumper=_BlockDumper, default_flow_style=False,
                                         sort_keys=True, width=1_000_000)


def public_key(public_line: str) -> paramiko.PKey:
    """paramiko's form of an OpenSSH public key line (any type paramiko knows).

    Raises:
        ValueError: the line is not ``<type> <base64> [comment]`` for a key paramiko knows.
    """
    kind, blob = _split_public_line(public_line)
    try:
        return paramiko.PKey.from_type_string(kind, blob)
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable {kind} public key: {exc}") from None


def fingerprint(public_line: str) -> str:
    """``SHA256:<unpadded base64 of the key blob's sha256>`` of a public key line, as ssh-keygen prints it.

    Raises:
        ValueError: the line is not ``<type> <base64> [comment]``.
    """
    _, blob = _split_public_line(public_line)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


# -- internals -----------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """yaml.safe_dump's dumper, writing multi-line strings (the private key) as literal ``|`` blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_text)


def _load_private(data: bytes) -> ed25519.Ed25519PrivateKey:
    try:
        private = serialization.load_ssh_private_key(data, password=None)
    except TypeError:  # cryptography's word for "encrypted, and no password given"
        raise ValueError("the private key is passphrase-protected; stager uses unencrypted keys only") from None
    except (ValueError, binascii.Error, UnicodeError):
        raise ValueError("not an OpenSSH private key") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ValueError(  # noqa: TRY004 - a wrong file, not a wrong call
            f"a {type(private).__name__} is not supported; stager uses Ed25519 keys only")
    return private


def _split_public_line(public_line: str) -> tuple[str, bytes]:
    parts = public_line.split()
    if len(parts) < 2 or "\n" in public_line.strip():
        raise ValueError("a public key line is '<type> <base64> [comment]'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {parts[0]} public key is not valid base64") from None
    # The blob starts with its own type name; a mismatch means a mangled line.
    length = int.from_bytes(blob[:4], "big")
    if blob[4 : 4 + length] != parts[0].encode("ascii", "replace"):
        raise ValueError(f"the {parts[0]} public key blob does not match its type")
    return parts[0], blob


def _comment_from_public_file(pub_path: Path, public: str) -> str:
    try:
        text = pub_path.read_text().strip()
    except (OSError, UnicodeError):
        return DEFAULT_COMMENT
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[:2] != public.split()[:2]:
        return DEFAULT_COMMENT
    return parts[2] if len(parts) == 3 else ""


def _write_atomically(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file 0600 before anything is written, so a private
    # key is never readable by others, even for a moment.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
