"""Who is running a run: an exclusive file lock held by the controller process for the run's whole life.

``$STAGER_HOME/locks/<run_id>.lock`` is locked with ``flock`` by the process that
runs (or resumes) the run, and holds its pid for messages. The kernel drops the
lock when that process dies, however it dies (SIGKILL, a crash, a reboot), so
"is someone still running this run?" has an answer no stale pid file can fake:
``controller_alive`` asks for a shared lock and fails to get one exactly when a
live process holds it. ``stager gc`` uses that to tell a run that is training
from one whose controller was killed.

The lock belongs to the open file, which is not inherited by programs the
controller starts (Python opens files close-on-exec); a child made by a bare
``fork`` would keep it, as long as it lives. The lock file is never deleted:
deleting it would let two processes lock two different files of the same name.
Take the lock before the run appears in the ledger, so a run in the ledger is
never seen without its controller. Local files only: ``flock`` on NFS may not lock.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from stager.errors import UsageError
from stager.home import stager_home

__all__ = ["RunLock", "controller_alive", "lock_path"]

LOCKS_DIR = "locks"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the ledger's rule; also keeps the path inside locks/


def lock_path(run_id: str, home: Path | None = None) -> Path:
    """``<home>/locks/<run_id>.lock`` (``home`` defaults to ``$STAGER_HOME``).

    Raises:
        UsageError: ``run_id`` is not 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"run id {run_id!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    return Path(home if home is not None else stager_home()) / LOCKS_DIR / f"{run_id}.lock"


class RunLock:
    """The controller's hold on one run: ``with RunLock(run_id): ...`` or ``acquire()``/``release()``."""

    def __init__(self, run_id: str, home: Path | None = None) -> None:
        self.run_id = run_id
        self.path = lock_path(run_id, home)
        self._fd: int | None = None  # the open, locked file while held

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting and write this process's pid into the file.

        Raises:
            UsageError: another process (or another ``RunLock`` in this one) holds it; the message names its pid.
            OSError: the locks folder cannot be created or the file opened.
        """
        if self._fd is not None:
            raise UsageError(f"run {self.run_id} is already being run by process {os.getpid()} (this one)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UsageError(f"run {self.run_id} is already being run by process {holder or '(unknown)'}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (the file stays, emptied). Safe to call when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no pid of a process that no longer runs the run
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock(run_id={self.run_id!r}, held={self.held})"


def controller_alive(run_id: str, home: Path | None = None) -> bool:
    """Whether some process holds the run's lock now (its controller is alive).

    Asks for a shared lock on a fresh descriptor without waiting: refused exactly
    when an exclusive lock is held. Creates nothing; no lock file means no controller.

    Raises:
        UsageError: a malformed run id.
    """
    path = lock_path(run_id, home)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
