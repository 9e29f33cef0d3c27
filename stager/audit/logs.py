"""A run's log files, printed whole, as their last lines, or followed while the run goes on.

Following stops by itself once the ledger says the run has finished, after the
last bytes written before that are printed: ``stager runs logs -f`` in a script
ends when the run does, unlike ``tail -f``.
"""

from __future__ import annotations

import codecs
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LOGS", "follow", "last_lines"]

# The name a user gives → the file under the run's folder (see stager.run.folder).
LOGS = {"train": "logs/train.log", "controller": "logs/controller.log", "remote": "logs/remote.log"}

_CHUNK = 1 << 16


def last_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The file's last ``count`` lines, and the offset they end at (where following goes on from).

    One pass with bounded memory, however long the log.
    """
    with open(path, "rb") as log:
        lines = deque(log, maxlen=count)
        end = log.tell()
    return [line.decode("utf-8", errors="replace") for line in lines], end


def follow(path: Path, finished: Callable[[], bool], *, start: int = 0, poll_s: float = 0.5,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    """Text appended to ``path`` from byte ``start`` on, as it arrives, until ``finished()`` is true.

    ``finished`` is asked before each read, so what was written before the run
    ended is always printed. A file that does not exist yet is waited for (a run
    writes its train log only once training starts).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = start
    while True:
        done = finished()
        if path.exists():
            with open(path, "rb") as log:
                log.seek(offset)
                while chunk := log.read(_CHUNK):
                    offset += len(chunk)
                    if text := decoder.decode(chunk):
                        yield text
        if done:
            if tail := decoder.decode(b"", final=True):
                yield tail
            return
        sleep(poll_s)
