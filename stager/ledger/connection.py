"""Opening the ledger's SQLite file so that several processes can append to it safely.

Every write runs in a ``BEGIN IMMEDIATE`` transaction: the writer takes the
database's write lock before it reads the chain head, so two processes can never
both extend a run's hash chain from the same head. Readers are never blocked (WAL),
and a writer that finds the lock taken waits up to the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stager.ledger.backend import Connection, write_transaction

__all__ = ["BUSY_TIMEOUT_S", "connect", "immediate"]

# A sprint's runs append concurrently, each transaction lasting about a millisecond;
# thirty seconds of waiting means something is wrong, not busy.
BUSY_TIMEOUT_S = 30.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the ledger file in WAL mode.

    ``synchronous=FULL``: a committed audit row survives a power cut, at the price
    of one fsync per transaction (well under a millisecond on an SSD).

    Raises:
        sqlite3.OperationalError: the file cannot be opened or is locked past the timeout.
        sqlite3.DatabaseError: the file is not an SQLite database.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the sqlite3 module starts no transactions of its own,
    # so every BEGIN is the explicit IMMEDIATE one below.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _switch_to_wal(conn)
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: cannot switch the ledger to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """Set WAL mode, waiting out another process that is creating or switching the same file.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is
    locked" at once instead of calling the busy handler when two processes race to
    do it on a new file, so the wait is ours.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def immediate(conn: Connection) -> Iterator[Connection]:
    """One write transaction holding the write lock from its first statement; rolled back on any error.

    On a PostgreSQL ledger the lock is an advisory one (see ``postgres.py``).
    """
    with write_transaction(conn):
        yield conn
