"""Host keys for sandboxes, fresh or taken from cloud-init user data.

Only the ``ssh_keys`` section of a ``#cloud-config`` document is read: the
sandbox runs no cloud-init, so users, packages, runcmd and every other module
are ignored.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import os

import paramiko
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = ["host_key_from_user_data", "new_host_key"]


class _WritableEd25519Key(paramiko.Ed25519Key):
    """An Ed25519Key that can also write its private half (paramiko's cannot).

    Written in OpenSSH format, the only one OpenSSH uses for Ed25519.
    """

    _openssh_pem = ""  # the private key text it was loaded from

    @classmethod
    def from_openssh_pem(cls, pem: str) -> _WritableEd25519Key:
        key = cls.from_private_key(io.StringIO(pem))
        key._openssh_pem = pem
        return key

    def write_private_key(self, file_obj, password=None, file_format=None) -> None:
        file_obj.write(self._pem(password))

    def write_private_key_file(self, filename, password=None, file_format=None) -> None:
        fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._pem(password))

    def _pem(self, password: str | bytes | None) -> str:
        if not password:
            return self._openssh_pem
        if isinstance(password, str):
            password = password.encode()
        private = serialization.load_ssh_private_key(self._openssh_pem.encode(), password=None)
        return private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(password),
        ).decode("ascii")


# cloud-config field -> paramiko key class, in order of preference.
_KEY_FIELDS: tuple[tuple[str, type[paramiko.PKey]], ...] = (
    ("ed25519_private", _WritableEd25519Key),
    ("ecdsa_private", paramiko.ECDSAKey),
    ("rsa_private", paramiko.RSAKey),
)


def new_host_key() -> paramiko.Ed25519Key:
    """Generate a fresh Ed25519 host key.

    Unlike paramiko's own Ed25519Key, it can be saved with
    ``write_private_key_file`` (OpenSSH format, mode 0600) and read back with
    ``paramiko.Ed25519Key.from_private_key_file``.
    """
    private = ed25519.Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    return _WritableEd25519Key.from_openssh_pem(text)


def host_key_from_user_data(user_data_b64: str | None) -> paramiko.PKey | None:
    """Return the host key a ``#cloud-config`` user data pins, or None.

    ``user_data_b64`` is the base64 text Linode's ``metadata.user_data`` holds
    (gzip-compressed content is accepted, as cloud-init does). The key comes
    from ``ssh_keys.ed25519_private``, else ``ecdsa_private``, else
    ``rsa_private``; any of them can be saved with ``write_private_key_file``. User data that is not cloud-config (a shell script, say)
    or has no ``ssh_keys`` gives None.

    Raises:
        ValueError: the base64, YAML or private key is malformed.
    """
    if not user_data_b64:
        return None
    try:
        raw = base64.b64decode(user_data_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"user_data is not valid base64: {exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"user_data is not valid gzip: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("user_data is not UTF-8 text") from None
    if not text.lstrip().startswith("#cloud-config"):
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"user_data cloud-config is not valid YAML: {exc}") from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("user_data cloud-config must be a YAML mapping")  # noqa: TRY004 - bad input, not a bad call
    keys = doc.get("ssh_keys")
    if keys is None:
        return None
    if not isinstance(keys, dict):
        raise ValueError("user_data cloud-config 'ssh_keys' must be a mapping")  # noqa: TRY004
    for field, cls in _KEY_FIELDS:
        pem = keys.get(field)
        if pem is None:
            continue
        if not isinstance(pem, str):
            raise ValueError(f"user_data ssh_keys.{field} must be a string")  # noqa: TRY004
        try:
            if cls is _WritableEd25519Key:
                return cls.from_openssh_pem(pem)
            return cls.from_private_key(io.StringIO(pem))
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            raise ValueError(
                f"user_data ssh_keys.{field} is not a valid unencrypted private key: {exc}"
            ) from None
    return None
