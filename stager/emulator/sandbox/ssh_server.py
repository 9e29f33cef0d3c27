"""The SSH side of a sandbox: key checks and one paramiko server per connection.

Supported: public-key auth for user ``root``; ``session`` channels with env,
pty, window-change, exec, shell and the ``sftp`` subsystem. Not supported:
passwords, keyboard-interactive, agent and X11 forwarding, port forwarding
(``direct-tcpip`` and ``tcpip-forward``) — all refused.
"""

from __future__ import annotations

import base64
import binascii
import struct
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import paramiko

from stager.emulator.sandbox.processes import CommandSession, PtyRequest
from stager.emulator.sandbox.sftp import JailedSFTP

if TYPE_CHECKING:
    from stager.emulator.sandbox.host import SandboxHost

__all__ = ["SandboxServer", "parse_authorized_keys", "serve_connection"]

_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}


def parse_authorized_keys(lines: list[str]) -> list[bytes]:
    """The public key blobs of OpenSSH ``authorized_keys`` lines.

    Options before the key type (``from="..."``, ``command="..."``) are
    accepted and ignored; blank lines and ``#`` comments are skipped.

    Raises:
        ValueError: a line holds no ed25519, rsa or ecdsa public key.
    """
    blobs = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        tokens = text.split()
        index = next((i for i, tok in enumerate(tokens) if tok in _KEY_TYPES), None)
        if index is None or index + 1 >= len(tokens):
            raise ValueError(f"authorized key {number} is not an ed25519, rsa or ecdsa public key line")
        try:
            blob = base64.b64decode(tokens[index + 1], validate=True)
            (length,) = struct.unpack(">I", blob[:4])
            embedded = blob[4 : 4 + length].decode("ascii")
        except (binascii.Error, struct.error, UnicodeDecodeError):
            embedded = None
        if embedded != tokens[index]:
            raise ValueError(f"authorized key {number} has a malformed {tokens[index]} key")
        blobs.append(blob)
    return blobs


@dataclass
class _ChannelState:
    env: dict[str, str] = field(default_factory=dict)  # from the client's env requests
    pty: PtyRequest | None = None
    session: CommandSession | None = None


class SandboxServer(paramiko.ServerInterface):
    """paramiko's view of one SSH connection to a sandbox."""

    def __init__(self, host: SandboxHost) -> None:
        self._host = host
        self._lock = threading.Lock()
        # Keyed by the channel object so state goes away with the channel.
        self._channels: weakref.WeakKeyDictionary[paramiko.Channel, _ChannelState] = weakref.WeakKeyDictionary()

    # -- auth -----------------------------------------------------------------

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_none(self, username):
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username, password):
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username, submethods):
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        if username == "root" and self._host.is_authorized(key):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    # -- channels -------------------------------------------------------------

    def check_channel_request(self, kind, chanid):
        if kind != "session":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        return paramiko.OPEN_SUCCEEDED

    def check_channel_env_request(self, channel, name, value):
        self._state(channel).env[_text(name)] = _text(value)
        return True

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes):
        self._state(channel).pty = PtyRequest(_text(term), width, height)
        return True

    def check_channel_window_change_request(self, channel, width, height, pixelwidth, pixelheight):
        state = self._state(channel)
        if state.session is not None:
            state.session.resize(width, height)
        elif state.pty is not None:
            state.pty.width, state.pty.height = width, height
        return True

    def check_channel_exec_request(self, channel, command):
        return self._start(channel, _text(command))

    def check_channel_shell_request(self, channel):
        return self._start(channel, None)

    def _start(self, channel: paramiko.Channel, command: str | None) -> bool:
        state = self._state(channel)
        if state.session is not None or self._host.stopping:
            return False
        state.session = self._host.new_session(channel, command, state.env, state.pty)
        return True

    def _state(self, channel: paramiko.Channel) -> _ChannelState:
        with self._lock:
            return self._channels.setdefault(channel, _ChannelState())


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def serve_connection(
    sock, *, host_key: paramiko.PKey, server: SandboxServer, sftp_args: tuple
) -> paramiko.Transport:
    """Start paramiko's server side on an accepted socket; returns at once.

    The handshake, auth and every channel run in the transport's own thread.
    """
    transport = paramiko.Transport(sock)
    transport.add_server_key(host_key)
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, JailedSFTP, *sftp_args)
    transport.start_server(event=threading.Event(), server=server)
    return transport
