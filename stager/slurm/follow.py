"""A submitted job followed to its end: its state from the queue, its output file read as it grows.

The output file is on the shared filesystem, written by the job's first node;
it is read from the last byte read, whole lines only, so a line the job is
still writing is never cut in two. The queue is asked every ``every_s``
seconds (a cluster's controller should not be asked much more often); the file
twice a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from stager.slurm.commands import JobEnd, SlurmCommands

__all__ = ["OutputTail", "follow_job"]

READ_EVERY_S = 0.5
END_TRIES = 5  # sacct may learn of an end a moment after squeue forgot the job


class OutputTail:
    """The new whole lines of a growing file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []  # not written yet: the job is pending
        self._offset += len(data)
        *whole, self._partial = (self._partial + data).split(b"\n")
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in whole]

    def rest(self) -> list[str]:
        """The new lines and a last one without its newline (the job has ended)."""
        lines = self.lines()
        if self._partial:
            lines.append(self._partial.decode("utf-8", errors="replace"))
            self._partial = b""
        return lines


def follow_job(commands: SlurmCommands, job_id: str, output: Path, *, on_line: Callable[[str], None],
               on_state: Callable[[str], None], every_s: float,
               sleep: Callable[[float], None] = time.sleep) -> JobEnd:
    """Feed the job's output lines to ``on_line`` and its queue states to ``on_state`` until it ends."""
    tail = OutputTail(output)
    state: str | None = None
    next_poll = 0.0
    while True:
        for line in tail.lines():
            on_line(line)
        if time.monotonic() >= next_poll:
            now = commands.queue_state(job_id)
            next_poll = time.monotonic() + every_s
            if now is None:
                break
            if now != state:
                state = now
                on_state(now)
        sleep(min(READ_EVERY_S, every_s))
    for line in tail.rest():
        on_line(line)
    end: JobEnd | None = None
    for _ in range(END_TRIES):
        end = commands.final_state(job_id)
        if end is not None and end.state not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"):
            return end
        sleep(min(1.0, every_s))
    return end or JobEnd("UNKNOWN", "?")
