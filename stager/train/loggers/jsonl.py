"""``JSONLinesLogger``: a run's progress as a JSON-lines stream a remote controller can tail.

File: ``save_dir/name/version_N/metrics.jsonl`` (plus ``hparams.yaml``).  One JSON
object per line, each with ``type`` and ``time`` (Unix seconds)::

    {"type": "hparams", "time": 1700000000.0, "hparams": {"lr": 0.001}}
    {"type": "metrics", "time": 1700000001.2, "step": 10, "metrics": {"loss": 0.5}}
    {"type": "checkpoint", "time": 1700000002.3, "path": "/.../epoch=0-step=10.ckpt"}
    {"type": "status", "time": 1700000003.4, "status": "success"}

Each line is written with one ``write`` and flushed at once, so ``tail -F`` sees it
immediately; ``os.fsync`` happens only at ``finalize`` (per-line fsync would cost a
disk round trip per step).

Non-finite floats: JSON has no NaN or Infinity, so they are written as the
strings ``"nan"``, ``"inf"`` and ``"-inf"`` (not ``null``, which would lose which
one).  ``read_jsonl``/``follow``/``parse_line`` turn them back into floats inside
``metrics``, where every value is a number; elsewhere they stay strings.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from stager.train.loggers.versioning import VersionedLogger, plain, save_hparams

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class JSONLinesLogger(VersionedLogger):
    def __init__(
        self,
        save_dir: str | os.PathLike,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        filename: str = "metrics.jsonl",
    ) -> None:
        super().__init__(save_dir, name, version)
        self._filename = filename
        self._file = None
        self._hparams: dict[str, Any] = {}

    @property
    def path(self) -> str:
        """The stream's file."""
        return os.path.join(self.log_dir, self._filename)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self._write({"type": "metrics", "step": step, "metrics": dict(metrics)})

    def log_hyperparams(self, params: Mapping[str, Any]) -> None:
        self._hparams.update(params)
        save_hparams(self.log_dir, self._hparams)
        self._write({"type": "hparams", "hparams": dict(params)})

    def after_save_checkpoint(self, path: str) -> None:
        self._write({"type": "checkpoint", "path": os.fspath(path)})

    def save(self) -> None:
        if self._file is not None:
            self._file.flush()

    def finalize(self, status: str) -> None:
        self._write({"type": "status", "status": status})
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def _write(self, record: dict[str, Any]) -> None:
        record = {"type": record.pop("type"), "time": time.time(), **record}
        line = json.dumps(_encode(record), allow_nan=False, separators=(",", ":")) + "\n"
        file = self._open()
        file.write(line)
        file.flush()

    def _open(self):
        if self._file is None:
            path = self._make_log_dir() / self._filename
            # A crashed writer may have left half a line; start on a fresh one so the
            # fragment stays a single unreadable line instead of corrupting ours.
            needs_newline = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
            # Large buffer + explicit flush per record: each line leaves in one write().
            self._file = open(path, "a", encoding="utf-8", buffering=1 << 16)
            if needs_newline:
                self._file.write("\n")
        return self._file


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1)


def _encode(value: Any) -> Any:
    """JSON-safe: plain values, non-finite floats as "nan"/"inf"/"-inf"."""
    return _finite(plain(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- reading ------------------------------------------------------------------


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One record from one line, or ``None`` when the line is not a complete JSON object
    (a half-written tail, a crash fragment, a blank line)."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None
    if not isinstance(record, dict):
        return None
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        record["metrics"] = {k: _NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in metrics.items()}
    return record


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The records in ``path`` now.  Lines that do not parse are skipped: the last one
    may still be being written, and a crash can leave a fragment mid-file."""
    with open(path, "rb") as file:
        for line in file:
            record = parse_line(line)
            if record is not None:
                yield record


def follow(
    path: str | os.PathLike,
    poll_interval: float = 0.5,
    idle_timeout: float | None = None,
    until_status: bool = True,
) -> Iterator[dict[str, Any]]:
    """Yield records as they are appended to ``path``, like ``tail -F``.

    Waits for the file to appear.  Only newline-terminated lines are parsed; a
    partial last line is kept until its end arrives.  Stops after a ``status``
    record (unless ``until_status=False``) or after ``idle_timeout`` seconds with
    no new data.  Not supported: a file that is truncated or replaced while followed.
    """
    pending = b""
    offset = 0
    last_data = time.monotonic()
    while True:
        chunk = b""
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                chunk = file.read()
        except FileNotFoundError:
            pass
        if chunk:
            offset += len(chunk)
            last_data = time.monotonic()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                record = parse_line(line)
                if record is None:
                    continue
                yield record
                if until_status and record.get("type") == "status":
                    return
        elif idle_timeout is not None and time.monotonic() - last_data > idle_timeout:
            return
        else:
            time.sleep(poll_interval)
