"""A run's log files, printed whole, as their last lines, or followed while the run goes on.

Following stops by itself once the ledger says the run has finished, after the
last bytes written before that are printed: ``stager runs logs -f`` in a script
ends when the run does, unlike ``tail -f``.
"""

from __future__ import annotations

import codecs
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = ["LOGS", "follow", "last_lines", "readable"]

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


def readable(texts: Iterable[str]) -> Iterator[str]:
    """``texts`` with each ``@stager {...}`` record line rewritten for a person; other lines as they are.

    Chunks are cut anywhere, so a line is held back until its newline arrives.
    """
    pending = ""
    for text in texts:
        pending += text
        *lines, pending = pending.split("\n")
        if lines:
            yield "".join(_readable(line) + "\n" for line in lines)
    if pending:
        yield _readable(pending)


def _readable(line: str) -> str:
    from stager.run.report import parse_report

    record = parse_report(line)
    if record is None:
        return line
    event = record.get("event")
    where = f"epoch {record.get('epoch')} step {record.get('step')}"
    if event in ("metrics", "epoch"):
        values = " ".join(f"{name} {_number(value)}" for name, value in (record.get("metrics") or {}).items())
        return f"[{event}] {where}: {values}" if values else f"[{event}] {where}"
    if event == "start":
        return f"[start] max_epochs {record.get('max_epochs')}, max_steps {record.get('max_steps')}, " \
               f"from step {record.get('global_step', 0)}"
    if event == "end":
        return f"[end] step {record.get('step')}, {record.get('epoch')} epoch(s) completed"
    if event == "checkpoint_pushed":
        return f"[checkpoint] {where}: {record.get('key')} pushed ({record.get('size')} bytes, sha256 " \
               f"{str(record.get('sha256'))[:16]}...)"
    if event == "environment":
        return f"[environment] python {record.get('python')}, {len(record.get('packages') or {})} packages"
    return line


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
