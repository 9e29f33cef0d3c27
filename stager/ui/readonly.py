"""Opening the ledger for reading only: the UI never creates, migrates or writes a ledger.

SQLite's ``mode=ro`` makes any write fail inside SQLite itself, so no code path of
the ``Ledger`` class can change the file while the UI holds it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stager.ledger import Ledger
from stager.ledger.schema import LEDGER_MIGRATIONS
from stager.ui.responses import PageError

__all__ = ["ReadOnlyLedger", "read_ledger"]


@dataclass(frozen=True)
class ReadOnlyLedger:
    """A ledger opened for reading: its API for whole runs and reports, its connection for the table's SQL."""

    ledger: Ledger
    conn: sqlite3.Connection


@contextmanager
def read_ledger(path: Path) -> Iterator[ReadOnlyLedger | None]:
    """The ledger at ``path`` opened read-only, or None when there is no ledger there yet.

    Raises:
        PageError: the file is not a ledger, or its schema is not the one this stager reads.
    """
    if not path.is_file():
        yield None
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise PageError(500, f"{path}: cannot open the ledger for reading ({exc})") from exc
    try:
        conn.row_factory = sqlite3.Row
        _check_schema(conn, path)
        yield ReadOnlyLedger(Ledger(conn, path), conn)
    finally:
        conn.close()


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose schema this stager does not read; upgrading would be a write."""
    try:
        newest = conn.execute("SELECT MAX(number) FROM migrations").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise PageError(500, f"{path}: not a stager ledger ({exc})") from exc
    if newest != LEDGER_MIGRATIONS.latest:
        fix = ("upgrade stager to read it" if (newest or 0) > LEDGER_MIGRATIONS.latest
               else "run `stager runs list` once to upgrade it")
        raise PageError(500, f"{path}: the ledger has schema {newest}, this stager reads schema "
                             f"{LEDGER_MIGRATIONS.latest}; {fix}")
