"""Where remote output goes: split into lines, shown on the console, appended to a log, tailed for errors.

A `CommandLog` belongs to one `Remote`; each command (or followed job) gets a
`LineSplitter` per output stream. Lines reach the console callback and the log
file while the command runs, not when it ends.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["TAIL_LINES", "CommandLog", "CommandResult", "LineSplitter", "new_tail", "tail_of"]

TAIL_LINES = 20  # output lines an error or a result keeps
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind."""

    command: str  # its display text (the command itself only when no display was given)
    exit_code: int
    stdout: str
    stderr: str
    tail: tuple[str, ...]  # its last output lines, stdout and stderr in the order they came


class CommandLog:
    """The console callback and the log file of one `Remote`; both are optional.

    The log file is opened on first use in append mode (parent directories
    created) and holds, for each command, ``$ <display>`` then its output lines.
    Safe to call from several threads.
    """

    def __init__(self, log_file: Path | None, on_line: Callable[[str], None] | None) -> None:
        self._path = Path(log_file) if log_file is not None else None
        self._on_line = on_line
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    def heading(self, text: str) -> None:
        """Record what is about to run (the log only; the console shows output)."""
        self._write(f"$ {text}\n")

    def note(self, text: str) -> None:
        """A line of stager's own about the session (a reconnect, a transfer), log only."""
        self._write(f"# {text}\n")

    def line(self, text: str) -> None:
        """One output line: to the console callback, then to the log file."""
        with self._lock:
            if self._on_line is not None:
                self._on_line(text)
            self._write_locked(text + "\n")

    def record(self, text: str) -> None:
        """Output gathered after the fact: to the log file only, line by line."""
        if text:
            self._write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _write(self, text: str) -> None:
        with self._lock:
            self._write_locked(text)

    def _write_locked(self, text: str) -> None:
        if self._path is None:
            return
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self._path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - open for the session
        self._file.write(text)
        self._file.flush()  # a crash must not lose what the log already showed


class LineSplitter:
    """A write()-able stream that cuts text into lines for a `CommandLog` and keeps the last ones.

    invoke hands over text in chunks that may end mid-line; a partial line
    waits for its end, or for `finish`. ``\\r\\n`` and a lone ``\\r``
    (progress bars) end a line too.
    """

    def __init__(self, log: CommandLog | None, tail: deque[str]) -> None:
        self._log = log
        self._tail = tail  # shared by the stdout and stderr splitters of one command
        self._partial = ""

    def write(self, text: str) -> int:
        data = self._partial + text
        # A trailing "\r" may be the first half of a "\r\n": hold it for the next chunk.
        held = "\r" if data.endswith("\r") else ""
        lines = _LINE_END.split(data[: len(data) - len(held)])
        self._partial = lines.pop() + held
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """invoke flushes after every chunk; lines are emitted as they complete, so nothing to do."""

    def finish(self) -> None:
        """Emit what is left after the last newline, if anything."""
        rest = self._partial.rstrip("\r")
        self._partial = ""
        if rest:
            self._emit(rest)

    def _emit(self, line: str) -> None:
        self._tail.append(line)
        if self._log is not None:
            self._log.line(line)


def new_tail() -> deque[str]:
    """An empty tail holding at most `TAIL_LINES` lines."""
    return deque(maxlen=TAIL_LINES)


def tail_of(*texts: str) -> tuple[str, ...]:
    """The last `TAIL_LINES` lines of the texts taken one after the other."""
    tail = new_tail()
    for text in texts:
        splitter = LineSplitter(None, tail)
        splitter.write(text)
        splitter.finish()
    return tuple(tail)
