"""``CSVLogger``: metrics as one CSV table per run, readable with any spreadsheet or pandas.

Layout (as Lightning's): ``save_dir/name/version_N/metrics.csv`` and ``hparams.yaml``.
Differences from Lightning, on purpose:

* an existing ``metrics.csv`` in the chosen version folder (a resumed run that
  pins ``version``) is extended, not deleted, so earlier rows survive;
* there is no ``experiment`` object and no ``log_graph``;
* rows logged at the same step are not merged: each ``log_metrics`` call is a row.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stager.train.loggers.versioning import VersionedLogger, save_hparams

METRICS_FILE = "metrics.csv"
PREFIX_SEPARATOR = "-"
# Columns that lead the table whatever order metrics first appeared in.
_LEADING = ("step", "epoch")


class CSVLogger(VersionedLogger):
    def __init__(
        self,
        save_dir: str | os.PathLike,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__(save_dir, name, version)
        if flush_logs_every_n_steps < 1:
            raise ValueError(f"flush_logs_every_n_steps must be at least 1, got {flush_logs_every_n_steps}")
        self._prefix = prefix
        self._flush_every = flush_logs_every_n_steps
        self._flushed_at_step = -1
        self._rows: list[dict[str, Any]] = []
        self._columns: list[str] | None = None  # header on disk; None until the file is first looked at
        self._path: str | None = None  # metrics_file_path, kept once known
        self._hparams: dict[str, Any] = {}

    @property
    def metrics_file_path(self) -> str:
        return os.path.join(self.log_dir, METRICS_FILE)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        row: dict[str, Any] = {"step": step}
        for key, value in metrics.items():
            key = f"{self._prefix}{PREFIX_SEPARATOR}{key}" if self._prefix else key
            row[key] = value.item() if hasattr(value, "item") else value
        self._rows.append(row)
        # Flush once flush_every steps have passed since the last flush: a rule on the
        # step number itself ((step + 1) % N) never fires for steps logged at multiples of N.
        if step - self._flushed_at_step >= self._flush_every:
            self._flushed_at_step = step
            self.save()

    def log_hyperparams(self, params: Mapping[str, Any]) -> None:
        self._hparams.update(params)
        save_hparams(self.log_dir, self._hparams)

    def save(self) -> None:
        if not self._rows:
            return
        if self._columns is not None and self._append_known_columns():
            return
        path = self._make_log_dir() / METRICS_FILE
        if self._columns is None:
            self._columns = _read_header(path)
        new_keys = [k for k in dict.fromkeys(k for row in self._rows for k in row) if k not in self._columns]
        if new_keys:
            self._columns = _ordered(self._columns + new_keys)
            if path.exists() and path.stat().st_size:
                _rewrite(path, self._columns)
        write_header = not (path.exists() and path.stat().st_size)
        with open(path, "a", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=self._columns, restval="")
            if write_header:
                writer.writeheader()
            writer.writerows(self._rows)
        self._rows.clear()

    def _append_known_columns(self) -> bool:
        """Append the buffered rows when they bring no new column.

        The flush that runs every ``flush_logs_every_n_steps`` steps while training:
        one ``open(O_APPEND)`` and one ``write``, no folder or header checks, so that it
        stays cheap between training steps.  The bytes are those of ``csv.DictWriter``
        in ``save``.  Returns False, having written nothing, when ``save`` must take
        its full path (a new column, or the folder went away).
        """
        columns = self._columns
        known = set(columns)
        if any(key not in known for row in self._rows for key in row):
            return False
        text = io.StringIO(newline="")
        writer = csv.writer(text)  # the dialect csv.DictWriter uses
        if self._path is None:  # the version folder is settled once a first save has run
            self._path = self.metrics_file_path
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except FileNotFoundError:
            return False
        try:
            if os.lseek(fd, 0, os.SEEK_END) == 0:  # the file was removed or emptied since: a header first
                writer.writerow(columns)
            writer.writerows([row.get(column, "") for column in columns] for row in self._rows)
            data = memoryview(text.getvalue().encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        self._rows.clear()
        return True

    def finalize(self, status: str) -> None:
        self.save()


def _ordered(columns: list[str]) -> list[str]:
    leading = [c for c in _LEADING if c in columns]
    return leading + [c for c in columns if c not in _LEADING]


def _read_header(path: Path) -> list[str]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as file:
        return next(csv.reader(file), [])


def _rewrite(path: Path, columns: list[str]) -> None:
    """Re-write ``path`` under a wider header; old rows get blanks in the new columns.

    Whole-file rewrite, as Lightning does: CSV has no way to add a column in place.
    Written aside and renamed so a crash never leaves a truncated table.
    """
    with open(path, newline="", encoding="utf-8") as file:
        old_rows = list(csv.DictReader(file))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as file:
        # extrasaction: a hand-edited row with surplus cells must not block the rewrite.
        writer = csv.DictWriter(file, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(old_rows)
    os.replace(tmp, path)
