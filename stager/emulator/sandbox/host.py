"""`SandboxHost`: one emulated instance's machine, reachable over real SSH."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko

from stager.emulator.sandbox import layout
from stager.emulator.sandbox.processes import CommandSession, PtyRequest
from stager.emulator.sandbox.sftp import Jail
from stager.emulator.sandbox.ssh_server import (
    SandboxServer,
    parse_authorized_keys,
    serve_connection,
)

__all__ = ["SandboxHost"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_JOIN_TIMEOUT = 2.0  # seconds stop() waits, in all, for its threads


class SandboxHost:
    """One emulated instance's machine: a directory as its filesystem and a real SSH (+SFTP) server.

    A sandbox is NOT a virtual machine: there is no kernel of its own, no
    apt, no systemd, no GPU of its own, and no isolation beyond the user's own
    machine. Commands run as the emulator's user, in ``<root>/root`` with
    ``HOME`` pointing there, and absolute paths in commands reach the host
    filesystem: only SFTP is jailed at ``root``. Stager therefore uses
    home-relative paths. Commands see ``STAGER_SANDBOX=<root>`` and
    ``STAGER_SANDBOX_ID=<instance_id>``, which is also how `kill_processes`
    finds them (a process that drops these variables from its environment
    escapes it).
    """

    def __init__(
        self,
        root: Path,
        *,
        instance_id: int,
        address: str,
        authorized_keys: list[str],
        host_key: paramiko.PKey,
    ) -> None:
        """Raises: ValueError: an ``authorized_keys`` line is not an OpenSSH public key."""
        self.root = Path(root).absolute()
        self.instance_id = instance_id
        self.address = address
        self.host_key = host_key
        self._authorized = parse_authorized_keys(authorized_keys)
        layout.ensure_layout(self.root)
        self.root = self.root.resolve()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._listen_thread: threading.Thread | None = None
        self._port: int | None = None
        self._connections: dict[paramiko.Transport, socket.socket] = {}
        self._sessions: set[CommandSession] = set()
        self._procs: list[subprocess.Popen] = []
        self._drop_threads: list[threading.Thread] = []
        self._armed_drop: float | None = None
        self._volumes: dict[str, Path] = {}
        self._jail = Jail(self.root, lambda: list(self._volumes.values()))
        self._session_count = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self, port: int | None = None) -> int:
        """Listen on ``address``: ``port`` if given, else 22 if free, else an ephemeral port.

        Serves in daemon threads; returns the port. Calling it again while
        running returns the same port; after `stop` it starts afresh.

        Raises:
            OSError: the given port (or an ephemeral one) cannot be bound.
        """
        with self._lock:
            if self._listener is not None:
                return self._port
            family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            candidates = [port] if port is not None else [22, 0]
            for i, candidate in enumerate(candidates):
                try:
                    sock.bind((self.address, candidate))
                    break
                except OSError:
                    if i == len(candidates) - 1:
                        sock.close()
                        raise
            sock.listen(64)
            self._stopping.clear()
            self._listener = sock
            self._port = sock.getsockname()[1]
            self._listen_thread = threading.Thread(
                target=self._accept_loop, args=(sock,), name=f"sandbox-{self.instance_id}-listen", daemon=True
            )
            self._listen_thread.start()
            return self._port

    @property
    def port(self) -> int | None:
        """The port being served, or None when stopped."""
        return self._port

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Close the listener and every connection, kill every process of this sandbox.

        Used for shutdown and delete; the files stay. Idempotent.
        """
        self._stopping.set()
        with self._lock:
            listener, self._listener = self._listener, None
            listen_thread, self._listen_thread = self._listen_thread, None
            self._port = None
            self._armed_drop = None
        if listener is not None:
            _shutdown(listener)
            listener.close()
        transports = self._drop_all()
        self.kill_processes()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        with self._lock:
            sessions = list(self._sessions)
            drops, self._drop_threads = self._drop_threads, []
        threads = [t for t in (listen_thread, *drops, *transports) if t is not None]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for session in sessions:
            session.join(max(0.0, deadline - time.monotonic()))
        self._reap()

    # -- processes and faults ---------------------------------------------------

    def kill_processes(self) -> int:
        """SIGKILL every process started by this sandbox, detached ones too; return how many.

        Found by scanning ``/proc/*/environ`` for both ``STAGER_SANDBOX_ID``
        and ``STAGER_SANDBOX`` of this sandbox.
        """
        wanted = {
            f"STAGER_SANDBOX_ID={self.instance_id}".encode(),
            f"STAGER_SANDBOX={self.root}".encode(),
        }
        killed: set[int] = set()
        for _ in range(10):  # again, for children forked while we were killing
            found = [pid for pid in _pids_with_env(wanted) if pid not in killed]
            if not found:
                break
            for pid in found:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)
        self._reap()
        return len(killed)

    def drop_connections(self) -> int:
        """Fault injection: abruptly close every live SSH connection now; return how many.

        Running commands get SIGHUP as when a client vanishes (see
        `stager.emulator.sandbox.processes`); the listener stays up.
        """
        return len(self._drop_all())

    def arm_drop(self, after_seconds: float) -> None:
        """Fault injection: drop the connection of the NEXT exec request ``after_seconds`` after it starts."""
        with self._lock:
            self._armed_drop = after_seconds

    # -- volumes ----------------------------------------------------------------

    def attach_volume(self, label: str, volume_dir: Path) -> str:
        """Make a volume's directory appear in the sandbox; return its path there, ``/mnt/<label>``.

        Links ``dev/disk/by-id/scsi-0Linode_Volume_<label>`` and ``mnt/<label>``
        to ``volume_dir`` (created if missing). On Linode the by-id path is a
        block device to format and mount; here both are already the directory.
        In commands it is ``$STAGER_SANDBOX/mnt/<label>`` (or ``../mnt/<label>``
        from the home). Attaching again replaces the links.

        Raises:
            ValueError: ``label`` cannot be a file name.
            FileExistsError: a non-link file already has one of the link names.
        """
        error = layout.volume_label_error(label)
        if error:
            raise ValueError(error)
        volume_dir = Path(volume_dir).absolute()
        volume_dir.mkdir(parents=True, exist_ok=True)
        for link in self._volume_links(label):
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                raise FileExistsError(f"{link} exists and is not a volume link")
            link.symlink_to(volume_dir, target_is_directory=True)
        with self._lock:
            self._volumes[label] = volume_dir
        return f"/{layout.MNT}/{label}"

    def detach_volume(self, label: str) -> None:
        """Remove a volume's links; the volume's files are untouched. Unknown labels are ignored."""
        if layout.volume_label_error(label):
            return
        with self._lock:
            self._volumes.pop(label, None)
        for link in self._volume_links(label):
            if link.is_symlink():
                link.unlink()

    # -- used by the SSH server -------------------------------------------------

    def is_authorized(self, key: paramiko.PKey) -> bool:
        return key.asbytes() in self._authorized

    def new_session(
        self, channel: paramiko.Channel, command: str | None, client_env: dict[str, str], pty: PtyRequest | None
    ) -> CommandSession:
        """Start a command for a channel (called in paramiko's transport thread)."""
        env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "LANG": "C.UTF-8", "SHELL": "/bin/bash"}
        env.update(client_env)
        env.update(
            HOME=str(self.root / layout.HOME),
            USER="root",
            LOGNAME="root",
            STAGER_SANDBOX=str(self.root),
            STAGER_SANDBOX_ID=str(self.instance_id),
        )
        with self._lock:
            self._session_count += 1
            session = CommandSession(
                channel,
                command,
                env=env,
                cwd=str(self.root / layout.HOME),
                pty_request=pty,
                on_spawn=self._track,
                on_end=self._session_ended,
                name=f"sandbox-{self.instance_id}-cmd{self._session_count}",
            )
            self._sessions.add(session)
            drop_after = self._armed_drop if command is not None else None
            if drop_after is not None:
                self._armed_drop = None
                transport = channel.get_transport()
                dropper = threading.Thread(
                    target=self._drop_later,
                    args=(transport, drop_after),
                    name=f"sandbox-{self.instance_id}-drop",
                    daemon=True,
                )
                self._drop_threads = [t for t in self._drop_threads if t.is_alive()] + [dropper]
                dropper.start()
        self._reap()
        session.start()
        return session

    # -- internals --------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was shut down by stop()
            # Exit status, EOF and close are small packets sent back to back;
            # with Nagle each waits for the client's delayed ACK (~40 ms).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server = SandboxServer(self)
            try:
                transport = serve_connection(
                    conn, host_key=self.host_key, server=server, sftp_args=(self._jail,)
                )
            except Exception:  # noqa: BLE001 - a bad connection must not stop the listener
                conn.close()
                continue
            with self._lock:
                self._connections = {t: s for t, s in self._connections.items() if t.is_alive()}
                self._connections[transport] = conn
            if self._stopping.is_set():
                self._drop_all()

    def _drop_all(self) -> list[paramiko.Transport]:
        with self._lock:
            connections, self._connections = self._connections, {}
        for transport, conn in connections.items():
            _drop(transport, conn)
        return [t for t in connections]

    def _drop_later(self, transport: paramiko.Transport, after: float) -> None:
        if self._stopping.wait(after):
            return
        with self._lock:
            conn = self._connections.pop(transport, None)
        if conn is not None:
            _drop(transport, conn)

    def _track(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(proc)

    def _session_ended(self, session: CommandSession) -> None:
        with self._lock:
            self._sessions.discard(session)

    def _reap(self) -> None:
        """Collect exit statuses of our children that are done (no zombies left behind)."""
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]

    def _volume_links(self, label: str) -> tuple[Path, Path]:
        return (
            self.root / layout.BY_ID / f"{layout.VOLUME_PREFIX}{label}",
            self.root / layout.MNT / label,
        )


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _drop(transport: paramiko.Transport, conn: socket.socket) -> None:
    """Cut a connection the way a dead network would: no SSH disconnect message."""
    _shutdown(conn)
    transport.close()


def _pids_with_env(wanted: set[bytes]) -> list[int]:
    me = os.getpid()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:  # gone, or not ours to read
            continue
        if wanted <= env:
            pids.append(int(name))
    return pids
