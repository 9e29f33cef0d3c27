"""One fabric `Connection` to an instance, with its host key pinned and nothing of the user's read.

The expected host key comes with the `SshTarget` (stager set it through
cloud-init when it created the instance), so there is no trust on first use:
paramiko's `RejectPolicy` refuses any host not pinned, and a pinned host
offering another key fails with `HostKeyMismatch` before authentication, so
nothing runs on an impostor. stager never reads or writes ``~/.ssh/known_hosts``
or ``~/.ssh/config``, never loads fabric or invoke config files, never takes
keys from ``SSH_AUTH_SOCK`` and never tries the user's own key files: only the
target's client key.

Not supported: password or keyboard-interactive auth, gateways and ProxyJump,
forwarding ``SSH_AUTH_SOCK``, host certificates.
"""

from __future__ import annotations

import codecs
import contextlib
import socket
from dataclasses import dataclass, field

import fabric
import paramiko
from fabric.runners import Remote as FabricRemoteRunner

from stager.remote.errors import HostKeyMismatch, SshConnectionError
from stager.remote.keys import KeyPair, fingerprint, public_key

__all__ = ["SessionNotOpened", "SshTarget", "close_quietly", "describe", "open_connection", "pinned_connection"]

# paramiko's defaults wait 15 s for the banner and 30 s for auth, whatever the
# connect timeout; a half-started sshd should cost no more than a connect.
_MIN_TIMEOUT = 0.1


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect, and which host key to expect.

    Raises (on construction):
        ValueError: a port outside 1-65535, an empty address or user, or a
            host key line paramiko cannot read.
    """

    address: str  # IPv4 or IPv6 address (or host name) of the instance
    port: int  # 22 on Linode; the emulator may use another
    user: str  # login user, "root" on Linode
    host_key: str  # the host public key line that must be offered, "ssh-ed25519 AAAA..."
    client_key: KeyPair = field(repr=False)  # the key stager logs in with

    def __post_init__(self) -> None:
        if not self.address or not self.user:
            raise ValueError("an SSH target needs an address and a user")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"SSH port {self.port} is outside 1-65535")
        public_key(self.host_key)  # fail here, not at the first connect

    @property
    def host_key_name(self) -> str:
        """The name paramiko looks the host key up by: the address, or ``[address]:port`` off port 22."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def where(self) -> str:
        """``user@address port N`` for messages."""
        return f"{self.user}@{self.address} port {self.port}"


class SessionNotOpened(Exception):
    """No channel could be opened for a command, so it was certainly not sent: retrying is safe."""


class _StagerRunner(FabricRemoteRunner):
    """fabric's remote runner: tells "never sent" apart, decodes streams incrementally, stops on Ctrl-C.

    invoke decodes every 1000-byte chunk on its own, which turns a UTF-8
    character cut by a chunk boundary into two replacement characters.
    Commands run without a pty and without fabric's environment handling
    (stager puts variables in the command line with `quoting.with_env`).
    """

    read_chunk_size = 32 * 1024

    def start(self, command, shell, env, timeout=None):
        try:
            self.channel = self.context.create_session()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SessionNotOpened(describe(exc)) from None
        self.send_start_message(command)

    def send_interrupt(self, interrupt):
        # Without a pty, Ctrl-C cannot be passed on. Closing the channel hangs
        # the command up (the sandbox at once, sshd at its next write) and
        # ends invoke's reader threads, which would otherwise hold the
        # interrupted caller until the command finished on its own.
        with contextlib.suppress(Exception):
            self.channel.close()
        raise interrupt

    def read_proc_output(self, reader):
        decoder = codecs.getincrementaldecoder(self.encoding or "utf-8")("replace")
        while True:
            data = reader(self.read_chunk_size)
            if not data:
                break
            text = decoder.decode(data)
            if text:
                yield text
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest


def open_connection(target: SshTarget, *, timeout: float) -> fabric.Connection:
    """Connect and authenticate once; the returned connection is open.

    ``timeout`` bounds the TCP connect, the SSH banner, the authentication and
    later channel opens, each.

    Raises:
        HostKeyMismatch: the host offered another key than ``target.host_key``.
        SshConnectionError: refused, unreachable, reset, timed out, or the
            client key was not accepted.
    """
    connection = pinned_connection(target, timeout=timeout)
    try:
        connection.open()
    except paramiko.BadHostKeyException as exc:
        close_quietly(connection)
        raise HostKeyMismatch(
            target.address, target.port,
            expected=fingerprint(target.host_key),
            offered=fingerprint(f"{exc.key.get_name()} {exc.key.get_base64()}"),
        ) from None
    except paramiko.AuthenticationException:
        close_quietly(connection)
        raise SshConnectionError(
            f"{target.where} did not accept stager's client key {target.client_key.fingerprint}",
            address=target.address, port=target.port,
        ) from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        close_quietly(connection)
        raise SshConnectionError(
            f"cannot connect to {target.where}: {describe(exc)}", address=target.address, port=target.port
        ) from None
    return connection


def pinned_connection(target: SshTarget, *, timeout: float) -> fabric.Connection:
    """The fabric `Connection` `open_connection` opens, not yet connected.

    Its client knows one host key, ``target.host_key`` under
    ``target.host_key_name``, and rejects every other host; it authenticates
    with ``target.client_key`` alone.
    """
    timeout = max(float(timeout), _MIN_TIMEOUT)
    config = fabric.Config(
        lazy=True,  # do not read /etc/fabric.yml, ~/.fabric.yml and the like
        ssh_config=paramiko.SSHConfig(),  # an empty one: ~/.ssh/config is never parsed
        overrides={
            "load_ssh_configs": False,
            "forward_agent": False,
            "runners": {"remote": _StagerRunner},
            "run": {"pty": False, "echo": False, "encoding": "utf-8"},
        },
    )
    connection = fabric.Connection(
        host=target.address,
        user=target.user,
        port=int(target.port),
        config=config,
        gateway=False,
        forward_agent=False,
        connect_kwargs={
            "pkey": target.client_key.pkey(),
            "allow_agent": False,
            "look_for_keys": False,
            # fabric's own connect_timeout is truncated to whole seconds; this is not.
            "timeout": timeout,
            "banner_timeout": timeout,
            "auth_timeout": timeout,
            "channel_timeout": timeout,
        },
    )
    client = connection.client
    # fabric installs AutoAddPolicy (trust on first use); stager pins instead.
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pinned = public_key(target.host_key)
    client.get_host_keys().add(target.host_key_name, pinned.get_name(), pinned)
    return connection


def close_quietly(connection: fabric.Connection) -> None:
    """Close a connection in whatever state it is, without raising.

    fabric closes the paramiko client only while the transport is up; after a
    drop, or a host key refused after the key exchange, the client must be
    closed by hand or its transport lingers.
    """
    with contextlib.suppress(Exception):
        connection.close()
    with contextlib.suppress(Exception):
        connection.client.close()


def describe(exc: BaseException) -> str:
    """A one-line reason for a network or SSH error, without paramiko's internals."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = {describe(e) for e in exc.errors.values()}
        return "; ".join(sorted(reasons))
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, EOFError):
        return "the connection was closed"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
