"""Progress of a transfer: files, bytes and bytes/s.

On a terminal, a rich progress bar on stderr (stdout stays for results);
elsewhere (a log, CI, a pipe), a few plain lines through ``say``: one at the
start, one at each quarter (once the transfer has run a second: a quick one
needs no news) and one at the end, so logs stay short however many files
move. Updates come from many threads at once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

__all__ = ["TransferProgress", "format_bytes"]

_QUARTERS = (25, 50, 75)


def format_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # unreachable; keeps type checkers calm


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class TransferProgress:
    """Counts files and bytes as they move and shows them. Thread-safe; use as a context manager."""

    def __init__(self, description: str, *, files: int, total_bytes: int, enabled: bool | None = None,
                 say: Callable[[str], None] = print, quiet_first_s: float = 1.0) -> None:
        """``enabled`` None: a bar when stderr is a terminal, plain lines otherwise; True: a bar; False: plain lines."""
        self.description = description
        self.files = files
        self.total_bytes = total_bytes
        self.done_files = 0
        self.done_bytes = 0
        self._say = say
        self._quiet_first_s = quiet_first_s  # no quarter lines before this many seconds
        self._lock = threading.Lock()
        self._bar = None
        self._row = None
        self._next_quarter = 0
        self._started = 0.0
        self._rich = sys.stderr.isatty() if enabled is None else enabled

    def __enter__(self) -> TransferProgress:
        self._started = time.monotonic()
        if self._rich:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[done_files]}/{task.fields[files]} files"),
                                 DownloadColumn(binary_units=True), TransferSpeedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            self._row = self._bar.add_task(self.description, total=max(self.total_bytes, 1), done_files=0,
                                            files=self.files)
            self._bar.start()
        else:
            self._say(f"{self.description}: {_count(self.files, 'file')}, {format_bytes(self.total_bytes)}")
        return self

    def advance(self, nbytes: int = 0, *, files: int = 0) -> None:
        """Count ``nbytes`` more bytes (negative when a retried part starts over) and ``files`` finished files."""
        with self._lock:
            self.done_bytes = max(0, self.done_bytes + nbytes)
            self.done_files += files
            if self._bar is not None:
                self._bar.update(self._row, completed=self.done_bytes, done_files=self.done_files)
                return
            line = self._quarter_line()
        if line:
            self._say(line)

    def _quarter_line(self) -> str | None:
        """The plain line for a quarter just passed, once each (lock held)."""
        if self._next_quarter >= len(_QUARTERS):
            return None
        share = self.done_bytes / self.total_bytes if self.total_bytes else self.done_files / max(self.files, 1)
        if share * 100 < _QUARTERS[self._next_quarter] or self.done_files >= self.files:
            return None  # not there yet, or finished: the closing line says it
        if time.monotonic() - self._started < self._quiet_first_s:
            return None
        while self._next_quarter < len(_QUARTERS) and share * 100 >= _QUARTERS[self._next_quarter]:
            self._next_quarter += 1
        return f"  {_QUARTERS[self._next_quarter - 1]}%: {self._status()}"

    def _status(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        return (f"{self.done_files}/{_count(self.files, 'file')}, {format_bytes(self.done_bytes)} "
                f"in {elapsed:.1f} s ({format_bytes(self.done_bytes / elapsed)}/s)")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._bar is not None:
            self._bar.stop()
            return
        if exc_type is None:
            self._say(f"  done: {self._status()}")
