"""`Remote`: commands, files and detached jobs on one instance, over one pinned SSH connection.

The connection opens on first use and opens again, once, at the next call
after it dropped; `wait_until_ready` keeps trying until the instance answers
(or a deadline), and `Remote.follow` reconnects on its own. A command that
was running when the connection dropped is never run again: that is the
caller's decision (or a detached job's purpose).

Output is streamed line by line to ``on_line`` (the console) and appended to
``log_file`` while a command runs. ``display=`` replaces a command carrying a
secret everywhere stager shows or records it.

Not supported: several threads using one `Remote` at once, a terminal (pty)
or stdin for commands (stdin is empty), and sudo: the target's user runs
everything.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import invoke
import paramiko

from stager.remote.connection import (
    SessionNotOpened,
    SshTarget,
    close_quietly,
    describe,
    open_connection,
)
from stager.remote.errors import (
    CommandTimedOut,
    HostKeyMismatch,
    RemoteCommandFailed,
    SshConnectionError,
    SshTimeout,
)
from stager.remote.jobs import DetachedJob, JobMethods, JobStatus
from stager.remote.output import (
    CommandLog,
    CommandResult,
    LineSplitter,
    new_tail,
    tail_of,
)
from stager.remote.transfer import TransferMethods

if TYPE_CHECKING:
    import fabric

__all__ = ["CommandResult", "DetachedJob", "JobStatus", "Remote", "SshTarget"]

T = TypeVar("T")

_FIRST_RETRY_S = 0.05  # wait_until_ready's first pause; doubled after each failure
_MAX_RETRY_S = 2.0  # and never longer than this
_LINK_ERRORS = (OSError, EOFError, paramiko.SSHException)
_SETTLE_S = 1.0  # how long a transport may take to notice it is dead
# An SFTP request unanswered this long means a dead link (one request moves at most 32 KiB).
_SFTP_TIMEOUT_S = 120.0


class Remote(TransferMethods, JobMethods):
    """One instance reached over SSH with its host key pinned; a context manager that closes the connection.

    Raises (from any method): `HostKeyMismatch` when the host offers another
    key, `SshConnectionError` when connecting fails or the connection drops
    mid-call.
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        log_file: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout  # seconds for one connect, banner, auth or channel open
        self.reconnects = 0  # connections opened after the first one (drops survived)
        self._log = CommandLog(log_file, on_line)
        self._connection: fabric.Connection | None = None
        self._ever_connected = False

    def __enter__(self) -> Remote:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Remote({self.target.where})"

    # -- connecting ------------------------------------------------------------------

    def wait_until_ready(self, *, timeout: float) -> None:
        """Try to connect and run ``true`` until it works, pausing 0.05 s, then twice as long, up to 2 s.

        Raises:
            HostKeyMismatch: at once, never retried.
            SshTimeout: no success within ``timeout`` seconds; names the last error.
        """
        deadline = time.monotonic() + timeout
        pause = _FIRST_RETRY_S
        last_error: str | None = None
        while True:
            left = deadline - time.monotonic()
            try:
                self._connected(timeout=min(self.connect_timeout, max(left, 0.1)))
                self._exec("true", "true", check=True, timeout=max(self.connect_timeout, 1.0), log=None)
                return
            except HostKeyMismatch:
                raise
            except (SshConnectionError, RemoteCommandFailed, CommandTimedOut) as exc:
                last_error = str(exc)
                self._disconnect()
            left = deadline - time.monotonic()
            if left <= 0:
                raise SshTimeout(f"SSH on {self.target.where} to run commands", seconds=timeout,
                                 last_error=last_error)
            time.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_RETRY_S)

    def close(self) -> None:
        """Close the connection and the log file; the `Remote` can connect again later."""
        self._disconnect()
        self._log.close()

    def _connected(self, timeout: float | None = None) -> fabric.Connection:
        connection = self._connection
        if connection is not None and connection.is_connected:
            return connection
        self._disconnect()
        connection = open_connection(self.target, timeout=timeout or self.connect_timeout)
        if self._ever_connected:
            self.reconnects += 1
            self._log.note(f"reconnected to {self.target.where}")
        self._ever_connected = True
        self._connection = connection
        return connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            close_quietly(connection)

    # -- commands ----------------------------------------------------------------------

    def run(
        self,
        cmd: str,
        *,
        check: bool = True,
        display: str | None = None,
        timeout: float | None = None,
        stream: bool = True,
    ) -> CommandResult:
        """Run ``cmd`` (a shell command line: build it with `stager.remote.quoting`) and wait for it.

        ``display`` is what logs, results and errors show instead of ``cmd``.
        With ``stream`` its output lines go to ``on_line`` and the log file as
        they come; without, ``on_line`` sees nothing and the output reaches
        the log file once the command has ended (stdout, then stderr). On
        ``timeout`` the command's channel is closed: the
        emulator's sandbox hangs the command up at once, a real sshd closes
        its pipes so it dies at its next write.

        The exit status is -1 when sshd reports that a signal ended the
        command (OpenSSH does, for a command that is not a shell); the
        emulator and shells report 128 + the signal number instead.

        Raises:
            RemoteCommandFailed: ``check`` and a non-zero exit status.
            CommandTimedOut: still running after ``timeout`` seconds (an `SshTimeout`).
            SshConnectionError: the connection failed or dropped meanwhile.
            HostKeyMismatch: on (re)connecting, the host offered another key.
        """
        shown = display if display is not None else cmd
        self._log.heading(shown)
        if stream:
            return self._exec(cmd, shown, check=check, timeout=timeout, log=self._log)
        try:
            result = self._exec(cmd, shown, check=False, timeout=timeout, log=None)
        except CommandTimedOut as exc:
            self._log.record("\n".join(exc.tail))
            raise
        self._log.record(result.stdout)
        self._log.record(result.stderr)
        if check and result.exit_code != 0:
            raise RemoteCommandFailed(shown, result.exit_code, result.tail)
        return result

    def _exec(self, cmd: str, shown: str, *, check: bool, timeout: float | None,
              log: CommandLog | None) -> CommandResult:
        """Run a command; ``log`` None keeps its output out of the console and the log file."""
        try:
            return self._exec_once(cmd, shown, check=check, timeout=timeout, log=log)
        except SessionNotOpened:
            # The connection died between calls (a drop not yet noticed): the
            # command was never sent, so one fresh connection may carry it.
            self._disconnect()
        try:
            return self._exec_once(cmd, shown, check=check, timeout=timeout, log=log)
        except SessionNotOpened as exc:
            raise self._lost(f"before running `{shown}`", exc) from None

    def _exec_once(self, cmd: str, shown: str, *, check: bool, timeout: float | None,
                   log: CommandLog | None) -> CommandResult:
        connection = self._connected()
        tail = new_tail()
        out, err = LineSplitter(log, tail), LineSplitter(log, tail)
        try:
            result = connection.run(
                cmd,
                warn=True,  # exit statuses are judged here, with the display text
                hide=log is None,
                out_stream=out,
                err_stream=err,
                in_stream=io.StringIO(),  # empty stdin: a command reading it sees EOF at once
                timeout=timeout,
            )
        except invoke.CommandTimedOut as exc:
            out.finish()
            err.finish()
            lines = tuple(tail) if log is not None else tail_of(exc.result.stdout, exc.result.stderr)
            timed_out = CommandTimedOut(shown, seconds=timeout or 0.0, tail=lines)
        except invoke.ThreadException as exc:
            inner = exc.exceptions[0].value if exc.exceptions else exc
            if isinstance(inner, _LINK_ERRORS):
                raise self._lost(f"while running `{shown}`", inner) from None
            raise inner from None  # e.g. the on_line callback's own error
        except _LINK_ERRORS as exc:
            raise self._lost(f"while running `{shown}`", exc) from None
        else:
            timed_out = None
        if timed_out is not None:
            # Raised out here, not in the except block: invoke's exception holds
            # the real command line and must not ride along as __context__.
            raise timed_out
        out.finish()
        err.finish()
        # -1 is paramiko's "the channel closed without an exit status": the
        # connection died, or (with the connection up) sshd reported a death
        # by signal as exit-signal, which paramiko does not read. The command
        # then keeps -1 as its status.
        if result.exited == -1 and _dies_soon(connection):
            raise self._lost(f"while running `{shown}`", EOFError())
        lines = tuple(tail) if log is not None else tail_of(result.stdout, result.stderr)
        outcome = CommandResult(command=shown, exit_code=result.exited, stdout=result.stdout,
                                stderr=result.stderr, tail=lines)
        if check and outcome.exit_code != 0:
            raise RemoteCommandFailed(shown, outcome.exit_code, lines)
        return outcome

    def _lost(self, doing: str, exc: BaseException) -> SshConnectionError:
        self._disconnect()
        return SshConnectionError(
            f"lost the connection to {self.target.where} {doing}: {describe(exc)}",
            address=self.target.address, port=self.target.port,
        )

    def _sftp_call(self, action: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run ``action`` with the connection's SFTP client.

        File errors (an OSError while the connection is up) reach the caller
        as they are; a lost or silent connection becomes `SshConnectionError`.
        """
        connection, sftp = self._sftp_client()
        try:
            return action(sftp)
        except _LINK_ERRORS as exc:
            link_failed = isinstance(exc, (EOFError, paramiko.SSHException, TimeoutError))
            if not link_failed and connection.is_connected:
                raise
            raise self._lost("during a file transfer", exc) from None

    def _sftp_client(self) -> tuple[fabric.Connection, paramiko.SFTPClient]:
        """The connection's SFTP client, on a fresh connection if the current one turns out dead."""
        for attempt in (1, 2):
            connection = self._connected()
            try:
                sftp = connection.sftp()
                sftp.get_channel().settimeout(_SFTP_TIMEOUT_S)
                return connection, sftp
            except _LINK_ERRORS as exc:
                # Nothing was transferred yet, so a second connection is safe to try.
                if attempt == 2:
                    raise self._lost("opening SFTP", exc) from None
                self._disconnect()
        raise AssertionError("unreachable")


def _dies_soon(connection: fabric.Connection) -> bool:
    """Whether the connection turns out dead within a moment.

    paramiko closes a dead transport's channels before it marks the transport
    inactive, so a command cut off by a drop can end while the connection
    still looks alive.
    """
    deadline = time.monotonic() + _SETTLE_S
    while connection.is_connected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
