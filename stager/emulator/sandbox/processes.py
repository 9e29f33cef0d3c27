"""Run one SSH exec or shell request as a bash process wired to its channel.

What the real sshd does and a sandbox does too: ``/bin/bash -c <command>`` in
its own session (``setsid``), stdin from the channel, stdout and stderr
streamed back as they come, the exit status sent when bash exits, and the
channel closed once the output pipes reach EOF, so a background job that keeps
stdout open keeps the channel open (as ``ssh host 'sleep 9 &'`` hangs).

Where it differs: when the client goes away before the command is done, the
command's process group gets SIGHUP at once and its pipes are closed. The real
sshd sends SIGHUP only through a pty; without one the command dies at its next
write (SIGPIPE). Both kill a foreground command and spare ``nohup cmd &`` and
``setsid cmd``; the sandbox does it sooner and deterministically. A command
killed by a signal reports exit status 128 + signal number instead of an
``exit-signal`` message.

With a pty (``get_pty``) the command gets a real pseudo-terminal as its
controlling terminal, so stderr is merged into stdout, and background jobs get
SIGHUP when the command exits, as under sshd.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import select
import selectors
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

__all__ = ["CommandSession", "PtyRequest"]

_READ = 64 * 1024
_TICK = 0.1  # seconds between checks that the client is still there
# A command that ends within this long of its request waits before closing the
# channel: paramiko sends the request's success reply after our handler returns,
# and a client that sees the close first fails with "Channel closed".
_CLOSE_GUARD = 0.05
# How long a finished command's pipes may stay open before the exit status is
# sent anyway (background jobs holding stdout).
_STATUS_GRACE = 0.2
_SHELL = "/bin/bash"


@dataclass
class PtyRequest:
    term: str  # TERM for the command, as the client asked
    width: int  # columns
    height: int  # rows


class CommandSession:
    """One bash process serving one channel, pumped by two daemon threads."""

    def __init__(
        self,
        channel: paramiko.Channel,
        command: str | None,
        *,
        env: dict[str, str],
        cwd: str,
        pty_request: PtyRequest | None,
        on_spawn: Callable[[subprocess.Popen], None],
        on_end: Callable[[CommandSession], None],
        name: str,
    ) -> None:
        self.channel = channel
        self.command = command  # None: an interactive shell
        self._env = dict(env)
        self._cwd = cwd
        self._pty = pty_request
        self._is_pty = pty_request is not None
        self._on_spawn = on_spawn
        self._on_end = on_end
        self._name = name
        self._requested_at = time.monotonic()
        self._proc: subprocess.Popen | None = None
        self._master: int | None = None  # pty master fd
        self._stdin_fd: int | None = None  # where channel input goes
        self._closing = threading.Event()  # tells the stdin pump to stop
        self._status_sent = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-out", daemon=True)
        self._stdin_thread = threading.Thread(target=self._pump_stdin, name=f"{name}-in", daemon=True)

    # -- public ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def resize(self, width: int, height: int) -> None:
        if self._pty is not None:
            self._pty.width, self._pty.height = width, height
        master = self._master
        if master is not None:
            try:
                _set_winsize(master, width, height)
            except OSError:
                pass  # the session just ended

    # -- the session ----------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                outputs = self._spawn()
            except OSError as exc:
                self._safe(self.channel.sendall_stderr, f"stager sandbox: cannot run bash: {exc}\n".encode())
                self._send_status(127)
                self._close_channel()
                return
            self._stdin_thread.start()
            if self._pump_output(outputs):
                self._close_channel()
            self._closing.set()
            self._stdin_thread.join(1.0)
            self._master = None  # no more resizes: the fd number may be reused
            for fd in outputs:
                _close_fd(fd)
            if not self._is_pty and self._stdin_fd is not None and not self._stdin_thread.is_alive():
                _close_fd(self._stdin_fd)
        finally:
            self._on_end(self)

    def _spawn(self) -> dict[int, Callable[[bytes], object]]:
        """Start bash; return the output fds and where each one's data goes."""
        env = dict(self._env)
        if self.command is None:
            inner = [_SHELL, "--noprofile", "--norc"] + (["-i"] if self._pty else [])
        else:
            inner = [_SHELL, "-c", self.command]
        if self._pty is None:
            # Our own pipes, not Popen's file objects: this session alone owns
            # and closes the parent's ends.
            pipes = [os.pipe() for _ in range(3)]
            (in_r, in_w), (out_r, out_w), (err_r, err_w) = pipes
            try:
                proc = subprocess.Popen(
                    inner, cwd=self._cwd, env=env, stdin=in_r, stdout=out_w, stderr=err_w,
                    start_new_session=True,
                )
            except OSError:
                for fd in (in_w, out_r, err_r):
                    os.close(fd)
                raise
            finally:
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            self._proc = proc
            self._on_spawn(proc)
            os.set_blocking(in_w, False)
            self._stdin_fd = in_w
            return {out_r: self.channel.sendall, err_r: self.channel.sendall_stderr}
        env["TERM"] = self._pty.term or "xterm"
        master, slave = pty.openpty()
        _set_winsize(master, self._pty.width, self._pty.height)
        # bash as session leader opens the tty again, which makes it the
        # controlling terminal (Popen cannot), then execs the real command.
        argv = [_SHELL, "-c", 'exec 3<>"$1" 3>&- && exec "${@:2}"', "bash", os.ttyname(slave), *inner]
        try:
            proc = subprocess.Popen(
                argv, cwd=self._cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._proc = proc
        self._on_spawn(proc)
        os.set_blocking(master, False)
        self._master = self._stdin_fd = master
        return {master: self.channel.sendall}

    def _pump_output(self, outputs: dict[int, Callable[[bytes], object]]) -> bool:
        """Stream output until the command is done; False when the client left first."""
        proc = self._proc
        sel = selectors.DefaultSelector()
        for fd, send in outputs.items():
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, send)
        exited_at: float | None = None
        try:
            while True:
                if self._client_gone():
                    self._hangup(sel)
                    return False
                got_data = False
                if sel.get_map():
                    for key, _ in sel.select(_TICK):
                        data = _read(key.fd)
                        if data is None:
                            continue
                        if not data:
                            sel.unregister(key.fd)
                            continue
                        got_data = True
                        if not self._safe(key.data, data):
                            self._hangup(sel)
                            return False
                else:
                    try:
                        proc.wait(_TICK)
                    except subprocess.TimeoutExpired:
                        pass
                rc = proc.poll()
                if rc is None:
                    continue
                now = time.monotonic()
                exited_at = exited_at or now
                drained = not sel.get_map()
                if self._is_pty and not got_data and now - exited_at > _STATUS_GRACE / 4:
                    drained = True  # pty: the session is over once its leader is
                if drained or now - exited_at > _STATUS_GRACE:
                    self._send_status(rc)
                if drained:
                    return True
        finally:
            sel.close()

    def _pump_stdin(self) -> None:
        """Copy channel input to the command; EOF from the client closes its stdin."""
        fd = self._stdin_fd
        writable = fd is not None
        while True:
            try:
                data = self.channel.recv(_READ)
            except (OSError, EOFError, paramiko.SSHException):
                data = b""
            if not data:
                break
            while writable and data and not self._closing.is_set():
                try:
                    data = data[os.write(fd, data):]
                except BlockingIOError:
                    select.select([], [fd], [], _TICK)
                except OSError:  # the command is gone or closed its stdin
                    writable = False
        if not self._is_pty and fd is not None and not self._closing.is_set():
            _close_fd(fd)  # EOF for the command; the session closes it otherwise
            self._stdin_fd = None

    # -- helpers --------------------------------------------------------------

    def _client_gone(self) -> bool:
        transport = self.channel.get_transport()
        return self.channel.closed or transport is None or not transport.is_active()

    def _hangup(self, sel: selectors.BaseSelector) -> None:
        """The client left first: SIGHUP the process group, as sshd would."""
        if self._proc.poll() is None or sel.get_map():
            try:
                os.killpg(self._proc.pid, signal.SIGHUP)
            except (ProcessLookupError, PermissionError):
                pass

    def _send_status(self, rc: int) -> None:
        if not self._status_sent:
            self._status_sent = True
            self._safe(self.channel.send_exit_status, rc if rc >= 0 else 128 - rc)

    def _close_channel(self) -> None:
        self._safe(self.channel.shutdown_write)
        wait = _CLOSE_GUARD - (time.monotonic() - self._requested_at)
        if wait > 0:
            time.sleep(wait)
        self._safe(self.channel.close)

    @staticmethod
    def _safe(fn: Callable, *args) -> bool:
        try:
            fn(*args)
            return True
        except (OSError, EOFError, paramiko.SSHException):
            return False


def _read(fd: int) -> bytes | None:
    """Read what is there: bytes, b"" at EOF, None when nothing is ready yet."""
    try:
        return os.read(fd, _READ)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno == errno.EIO:  # pty whose slave side is all closed
            return b""
        raise


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(height, 0), max(width, 0), 0, 0))
