"""What goes wrong when stager talks to an instance over SSH, as types the CLI maps to exit codes.

Every message is one line. None carries a private key or the text of a command
run with ``display=``: messages are built from display texts, fingerprints and
the remote side's output only, and the paramiko or invoke exception behind an
error is never attached (an invoke result holds the real command line).
"""

from __future__ import annotations

from collections.abc import Sequence

from stager.errors import JobFailed, UsageError

__all__ = [
    "CommandTimedOut",
    "HostKeyMismatch",
    "JobAlreadyRunning",
    "KeyFileError",
    "RemoteCommandFailed",
    "RemoteError",
    "SshConnectionError",
    "SshTimeout",
    "TransferError",
]


class RemoteError(JobFailed):
    """Something on or on the way to an instance failed; the message says what."""


class HostKeyMismatch(RemoteError):
    """The host offered a key other than the pinned one: possibly someone in the middle.

    Never retried: waiting would only give an attacker more chances.
    """

    def __init__(self, address: str, port: int, *, expected: str, offered: str) -> None:
        self.address = address
        self.port = port
        self.expected = expected  # fingerprint of the pinned host key, "SHA256:..."
        self.offered = offered  # fingerprint of the key the host presented
        super().__init__(
            f"host key mismatch for {address} port {port}: expected {expected}, "
            f"the host offered {offered}; refusing to connect"
        )


class SshConnectionError(RemoteError):
    """Connecting, authenticating or staying connected failed (refused, reset, dropped, key not accepted)."""

    def __init__(self, message: str, *, address: str, port: int) -> None:
        self.address = address
        self.port = port
        super().__init__(message)


class SshTimeout(RemoteError):
    """Waiting exceeded its limit; the message says what was awaited, for how long and the last error seen."""

    def __init__(self, waited_for: str, *, seconds: float, last_error: str | None = None) -> None:
        self.waited_for = waited_for
        self.seconds = seconds
        self.last_error = last_error
        last = f"; last error: {last_error}" if last_error else ""
        super().__init__(f"timed out after {seconds:g} s waiting for {waited_for}{last}")


class CommandTimedOut(SshTimeout):
    """A command ran longer than its ``timeout``; its channel was closed, which hangs it up."""

    def __init__(self, command: str, *, seconds: float, tail: Sequence[str] = ()) -> None:
        self.command = command  # display text
        self.tail = tuple(tail)  # last output lines before it was stopped
        super().__init__(f"`{command}` to finish", seconds=seconds,
                         last_error=f"last output: {_joined(self.tail)}" if self.tail else None)


class RemoteCommandFailed(RemoteError):
    """A command exited with a non-zero status."""

    def __init__(self, command: str, exit_code: int, tail: Sequence[str]) -> None:
        self.command = command  # display text, never a secret-bearing command line
        self.exit_code = exit_code
        self.tail = tuple(tail)  # its last output lines, stdout and stderr as they came
        super().__init__(f"`{command}` exited with {exit_code}; last output: {_joined(self.tail)}")


class TransferError(RemoteError):
    """A file did not arrive intact (sha256 mismatch) or was not there to send."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path  # the file concerned, as given
        super().__init__(message)


class JobAlreadyRunning(RemoteError):
    """A detached job of that name is still running in that directory; a second one is refused."""

    def __init__(self, name: str, job_dir: str) -> None:
        self.name = name
        self.job_dir = job_dir
        super().__init__(
            f"detached job {name!r} is already running in {job_dir}; "
            "attach to it or kill it instead of starting it again"
        )


class KeyFileError(UsageError):
    """A private key file cannot be used: missing, malformed, encrypted or not Ed25519."""


def _joined(lines: Sequence[str]) -> str:
    return " | ".join(lines) if lines else "(none)"
