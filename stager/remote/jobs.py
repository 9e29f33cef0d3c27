"""Detached jobs: commands that outlive the SSH connection that started them, and can be found again.

A job named ``train`` started in ``work`` keeps its files in
``work/.stager-jobs/train/``:

- ``cmd``: what was run (the display text when one was given, never a secret);
- ``log``: its stdout and stderr, appended as they come;
- ``pid``: its process id, which is also its process group and session id;
- ``runner``: the pid of the small shell that waits for it and writes ``exit``;
- ``exit``: its exit status (128 + N when killed by signal N), written
  atomically (temp file + rename) once it has ended, so a reader sees the
  whole number or nothing;
- ``lock``: held with ``flock`` while a start is deciding, so two starts of the
  same name cannot both win.

The runner is started with ``setsid nohup``, so neither it nor the job gets the
SIGHUP of a dropped connection; the job has its own session (``setsid``
again), so `JobMethods.kill` signals the job's whole process group and the
runner lives on to record how it ended.

Not supported: jobs that need a terminal, or stdin (it is ``/dev/null``);
processes the job puts in sessions of their own escape `JobMethods.kill`. The
instance needs bash, setsid and nohup (util-linux and coreutils, present on
every Linode distribution image); flock is used when present.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stager.remote.errors import (
    CommandTimedOut,
    JobAlreadyRunning,
    RemoteCommandFailed,
    RemoteError,
    SshConnectionError,
    SshTimeout,
)
from stager.remote.output import LineSplitter, new_tail
from stager.remote.quoting import command, quote

if TYPE_CHECKING:
    from stager.remote.output import CommandLog, CommandResult

__all__ = ["JOBS_DIR", "DetachedJob", "JobMethods", "JobStatus", "job_dir"]

JOBS_DIR = ".stager-jobs"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SIGNAL = re.compile(r"(?:SIG)?([A-Z][A-Z0-9+-]*|[0-9]{1,2})")
_ALREADY_RUNNING = 75  # the start script's exit status when the job is running (EX_TEMPFAIL)
_LOG_CHUNK = 256 * 1024
# How long a job may look dead with no exit status before follow gives up: the
# runner writes ``exit`` just after the job ends, never much later.
_EXIT_GRACE_S = 3.0
_SCRIPT_TIMEOUT_S = 60.0  # start, status and kill scripts return at once; longer means a dead link
_RECONNECT_SLICE_S = 5.0  # between slices of reconnecting, the caller may look at the instance itself


@dataclass(frozen=True)
class DetachedJob:
    name: str  # unique per working directory
    job_dir: str  # <workdir>/.stager-jobs/<name>, relative to the home when workdir is
    pid: int  # the job's process id = its process group and session id


@dataclass(frozen=True)
class JobStatus:
    running: bool  # still running (no exit status recorded and a process alive)
    exit_code: int | None  # recorded exit status; None while running or when none was recorded
    log_size: int  # bytes in the job's log so far


def job_dir(workdir: str, name: str) -> str:
    """Where a job's files live.

    Raises:
        ValueError: ``name`` is not 1-100 letters, digits, ``.``, ``_`` or ``-``
            starting with a letter or digit.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"job name {name!r} must be letters, digits, '.', '_' or '-', starting with a letter or digit")
    return posixpath.join(workdir, JOBS_DIR, name)


# The runner: $1 is the job directory (relative to the working directory, where
# it starts), $2 the command. The inner shell writes its pid only once setsid
# has made it a session leader, so a pid read from the file can always be used
# as a process group at once.
_SESSION = 'echo $$ > "$1/pid.tmp" && mv -f "$1/pid.tmp" "$1/pid" && exec bash -c "$2"'
_RUNNER = "\n".join([
    'd=$1',
    'echo $$ > "$d/runner"',
    f'setsid bash -c {quote(_SESSION)} stager-job "$d" "$2" < /dev/null >> "$d/log" 2>&1 &',
    'wait $!',
    'code=$?',
    'echo "$code" > "$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"',
])


# A process is alive when it exists and is not a zombie: where init does not
# reap orphans (some containers), a dead runner stays a zombie for good.
_ALIVE = 'alive() { kill -0 "$1" 2>/dev/null && ! grep -qs "^[0-9]* (.*) Z" "/proc/$1/stat"; }'


def _start_script(cmd: str, *, name: str, workdir: str, record: str) -> str:
    rel = posixpath.join(JOBS_DIR, name)
    alive = '{ alive "$(cat "$d/pid" 2>/dev/null)" || alive "$(cat "$d/runner" 2>/dev/null)"; }'
    return "\n".join([
        _ALIVE,
        f"mkdir -p -- {quote(job_dir(workdir, name))} && cd -- {quote(workdir)} || exit 1",
        f"d={quote(rel)}",
        'exec 9> "$d/lock" || exit 1',
        'if command -v flock > /dev/null 2>&1; then flock -w 10 9 || exit 1; fi',
        f'if [ ! -f "$d/exit" ] && {alive}; then exit {_ALREADY_RUNNING}; fi',
        'rm -f -- "$d/pid" "$d/pid.tmp" "$d/runner" "$d/exit" "$d/exit.tmp"',
        ': > "$d/log"',
        f"printf '%s\\n' {quote(record)} > \"$d/cmd\"",
        f'setsid nohup bash -c {quote(_RUNNER)} stager-runner "$d" {quote(cmd)} < /dev/null > /dev/null 2>&1 9>&- &',
        'i=0',
        'while [ ! -s "$d/pid" ] && [ "$i" -lt 400 ]; do sleep 0.025; i=$((i + 1)); done',
        'if [ -s "$d/pid" ]; then cat "$d/pid"; else echo "the job did not start within 10 s" >&2; exit 1; fi',
    ])


def _status_script(job: DetachedJob) -> str:
    return "\n".join([
        _ALIVE,
        f"d={quote(job.job_dir)}",
        'if [ -f "$d/exit" ]; then cat "$d/exit"; else echo -; fi',
        f'if alive {quote(job.pid)} || alive "$(cat "$d/runner" 2>/dev/null)"; then echo 1; else echo 0; fi',
        'if [ -f "$d/log" ]; then wc -c < "$d/log"; else echo 0; fi',
    ])


def _parse_status(stdout: str) -> JobStatus:
    lines = stdout.split()
    if len(lines) != 3:
        raise RemoteError(f"unexpected answer to a job status query: {stdout.strip()[:200]!r}")
    exit_text, alive, size = lines
    exit_code = int(exit_text) if exit_text.isdigit() else None
    return JobStatus(running=exit_code is None and alive == "1", exit_code=exit_code, log_size=int(size))


class JobMethods:
    """`Remote`'s detached-job methods; they rely on its `_exec`, `_sftp_call`, `_log` and `wait_until_ready`."""

    if TYPE_CHECKING:
        _log: CommandLog

        def _exec(self, cmd: str, shown: str, *, check: bool, timeout: float | None,
                  log: CommandLog | None) -> CommandResult: ...
        def _sftp_call(self, action): ...
        def wait_until_ready(self, *, timeout: float) -> None: ...

    def start_detached(self, cmd: str, *, name: str, workdir: str, display: str | None = None) -> DetachedJob:
        """Start ``cmd`` in ``workdir`` so that it survives the connection; return at once.

        ``workdir`` is created if missing. ``display`` replaces ``cmd`` in the
        log and in the job's ``cmd`` file, for commands carrying secrets (on
        the instance itself, its process list still shows ``cmd``). A job of
        the same name that has ended is replaced (its log starts afresh).

        Raises:
            ValueError: a bad job name.
            JobAlreadyRunning: a job of that name is running in ``workdir``;
                nothing was started (so a reconnect never starts training twice).
            RemoteCommandFailed: the job could not be started.
            SshConnectionError: the connection failed; the job may have
                started all the same, which `attach` tells after reconnecting.
        """
        where = job_dir(workdir, name)
        record = display if display is not None else cmd
        self._log.heading(f"{record}    [detached job {name} in {workdir}]")
        shown = f"start detached job {name} in {workdir}"
        result = self._exec(_start_script(cmd, name=name, workdir=workdir, record=record), shown,
                            check=False, timeout=_SCRIPT_TIMEOUT_S, log=None)
        if result.exit_code == _ALREADY_RUNNING:
            raise JobAlreadyRunning(name, where)
        if result.exit_code != 0:
            raise RemoteCommandFailed(shown, result.exit_code, result.tail)
        pid = int(result.stdout.split()[-1])
        self._log.note(f"job {name} started, pid {pid}")
        return DetachedJob(name=name, job_dir=where, pid=pid)

    def job_status(self, job: DetachedJob) -> JobStatus:
        """Whether the job runs, how it ended, and how long its log is.

        A job whose files are gone reads as not running, with no exit code.

        Raises:
            SshConnectionError, CommandTimedOut: the connection failed.
        """
        result = self._exec(_status_script(job), f"status of job {job.name}", check=True,
                            timeout=_SCRIPT_TIMEOUT_S, log=None)
        return _parse_status(result.stdout)

    def attach(self, *, name: str, workdir: str) -> DetachedJob | None:
        """The job of that name in ``workdir``, running or ended, or None if it was never started there.

        Raises:
            ValueError: a bad job name.
            SshConnectionError: the connection failed.
        """
        where = job_dir(workdir, name)
        result = self._exec(f"cat -- {quote(posixpath.join(where, 'pid'))} 2>/dev/null || true",
                            f"find job {name}", check=True, timeout=_SCRIPT_TIMEOUT_S, log=None)
        text = result.stdout.strip()
        if not text.isdigit():
            return None
        return DetachedJob(name=name, job_dir=where, pid=int(text))

    def kill(self, job: DetachedJob, sig: str = "TERM") -> None:
        """Send ``sig`` (a name such as TERM, KILL, INT, or a number) to the job's whole process group.

        Nothing is sent to a job that has ended; the runner records the exit
        status (143 for TERM). Processes that left the group are not reached.

        Raises:
            ValueError: ``sig`` is not a signal name or number.
            RemoteCommandFailed: the group exists but could not be signalled.
        """
        match = _SIGNAL.fullmatch(sig.upper() if isinstance(sig, str) else "")
        if not match:
            raise ValueError(f"{sig!r} is not a signal name or number")
        group = quote(f"-{job.pid}")
        script = "\n".join([
            f"if [ -f {quote(posixpath.join(job.job_dir, 'exit'))} ]; then exit 0; fi",
            f"{command('kill', '-s', match.group(1), '--', f'-{job.pid}')} 2>/dev/null || ! kill -0 -- {group} 2>/dev/null",
        ])
        self._exec(script, f"kill -{match.group(1)} job {job.name}", check=True, timeout=_SCRIPT_TIMEOUT_S, log=None)
        self._log.note(f"sent SIG{match.group(1)} to job {job.name} (process group {job.pid})")

    def follow(self, job: DetachedJob, *, offset: int = 0, timeout: float | None = None, poll: float = 0.2,
               reconnect_timeout: float = 120.0, on_poll: Callable[[], None] | None = None) -> int:
        """Stream the job's log from byte ``offset`` to the console and log file until it ends; return its exit code.

        When the connection drops, it reconnects (`wait_until_ready`, up to
        ``reconnect_timeout`` each time) and goes on from the last byte it
        read, so no line is lost or shown twice. A line still unfinished when
        the job ends is shown as a line. ``on_poll`` is called after each
        successful look at the job and between attempts to reconnect (a run
        checks its budget and its instance there); whatever it raises ends the
        following, the job going on.

        Raises:
            SshTimeout: the job still runs after ``timeout`` seconds, or a
                reconnect took longer than ``reconnect_timeout``.
            HostKeyMismatch: on reconnecting, the host offered another key.
            RemoteError: the job ended without recording an exit status
                (killed with its runner, or its files were removed).
        """
        started = time.monotonic()
        cursor = _LogCursor(posixpath.join(job.job_dir, "log"), offset, LineSplitter(self._log, new_tail()))
        silent_since: float | None = None
        self._log.note(f"following job {job.name} from byte {offset}")
        while True:
            try:
                status = self.job_status(job)
                self._sftp_call(cursor.read_to_end)
            except (SshConnectionError, CommandTimedOut) as exc:
                budget = reconnect_timeout
                if timeout is not None:
                    budget = min(budget, max(0.0, timeout - (time.monotonic() - started)))
                self._log.note(f"{exc}; reconnecting")
                _reconnect_in_slices(self, budget, on_poll)
                continue
            if status.exit_code is not None:
                cursor.finish()
                self._log.note(f"job {job.name} exited with {status.exit_code}")
                return status.exit_code
            if not status.running:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > _EXIT_GRACE_S:
                    cursor.finish()
                    raise RemoteError(f"job {job.name} in {job.job_dir} ended without recording an exit status")
            else:
                silent_since = None
            if on_poll is not None:
                on_poll()
            if timeout is not None and time.monotonic() - started > timeout:
                raise SshTimeout(f"job {job.name} to finish", seconds=timeout)
            time.sleep(poll)


def _reconnect_in_slices(remote, budget: float, on_poll: Callable[[], None] | None) -> None:
    """Reconnect within ``budget`` seconds, in slices, calling ``on_poll`` between them.

    ``on_poll`` may raise to give up early, e.g. when the instance itself is gone.

    Raises:
        SshTimeout: not reconnected within ``budget``.
    """
    deadline = time.monotonic() + budget
    while True:
        (on_poll or _noop)()
        left = deadline - time.monotonic()
        try:
            remote.wait_until_ready(timeout=max(0.0, min(_RECONNECT_SLICE_S, left)))
            return
        except SshTimeout:
            if time.monotonic() >= deadline:
                raise


def _noop() -> None:
    return None


class _LogCursor:
    """How far a job's log has been shown; it outlives connections, so a reconnect resumes where it stopped."""

    def __init__(self, path: str, offset: int, splitter: LineSplitter) -> None:
        self.path = path
        self.offset = offset  # bytes of the log already shown
        self._splitter = splitter
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def read_to_end(self, sftp) -> None:
        """Show the log from `offset` to its current end.

        A chunk is shown only once it has been read whole, and `offset` moves
        past it only then, so a connection lost mid-read repeats nothing.
        """
        try:
            handle = sftp.open(self.path, "rb")
        except FileNotFoundError:
            return  # not written yet
        with handle:
            handle.seek(self.offset)
            while True:
                chunk = handle.read(_LOG_CHUNK)
                if not chunk:
                    return
                self._splitter.write(self._decoder.decode(chunk))
                self.offset += len(chunk)

    def finish(self) -> None:
        """Show what the log ends with after its last newline."""
        self._splitter.write(self._decoder.decode(b"", final=True))
        self._splitter.finish()
