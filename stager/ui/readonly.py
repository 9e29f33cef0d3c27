"""Opening the ledger for reading only: the UI never creates, migrates or writes a ledger.

SQLite's ``mode=ro`` makes any write fail inside SQLite itself, so no code path of
the ``Ledger`` class can change the file while the UI holds it. A PostgreSQL ledger
(``STAGER_LEDGER_URL``) is read in a session whose transactions are all read-only,
which the server enforces the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stager.errors import UsageError
from stager.ledger import Ledger
from stager.ledger.backend import Connection, database_errors
from stager.ledger.location import ledger_url
from stager.ledger.schema import LEDGER_MIGRATIONS
from stager.ui.responses import PageError

__all__ = ["ReadOnlyLedger", "read_ledger"]


@dataclass(frozen=True)
class ReadOnlyLedger:
    """A ledger opened for reading: its API for whole runs and reports, its connection for the table's SQL."""

    ledger: Ledger
    conn: Connection  # sqlite3, or a PostgreSQL connection taking the same SQL


@contextmanager
def read_ledger(path: Path) -> Iterator[ReadOnlyLedger | None]:
    """The ledger at ``path`` opened read-only, or None when there is no ledger there yet.

    Raises:
        PageError: the file or database is not a ledger, cannot be reached, or its schema is not the
            one this stager reads.
    """
    try:
        url = ledger_url(path)
    except UsageError as exc:
        raise PageError(500, str(exc)) from None
    if url is not None:
        with _read_postgres(url, path) as opened:
            yield opened
        return
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


@contextmanager
def _read_postgres(url: str, path: Path) -> Iterator[ReadOnlyLedger]:
    from stager.ledger import postgres

    try:
        conn = postgres.connect(url, read_only=True)
    except UsageError as exc:  # already one line, with the password masked
        raise PageError(500, str(exc)) from None
    try:
        _check_schema(conn, conn.where)
        yield ReadOnlyLedger(Ledger(conn, path), conn)
    finally:
        conn.close()


def _check_schema(conn: Connection, path: Path | str) -> None:
    """Refuse a ledger whose schema this stager does not read; upgrading would be a write."""
    try:
        newest = conn.execute("SELECT MAX(number) FROM migrations").fetchone()[0]
    except database_errors(conn) as exc:
        raise PageError(500, f"{path}: not a stager ledger ({exc})") from exc
    if newest != LEDGER_MIGRATIONS.latest:
        fix = ("upgrade stager to read it" if (newest or 0) > LEDGER_MIGRATIONS.latest
               else "run `stager runs list` once to upgrade it")
        raise PageError(500, f"{path}: the ledger has schema {newest}, this stager reads schema "
                             f"{LEDGER_MIGRATIONS.latest}; {fix}")
