"""The few places where the ledger's SQL differs between SQLite and PostgreSQL.

Everything else (queries, inserts, the hash chain, the audit) is one SQL text for
both. A connection is either a ``sqlite3.Connection`` or a
``postgres.PostgresConnection``; these helpers pick the right form for it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["Connection", "database_errors", "ddl", "insert_returning_id", "is_postgres", "retryable_errors",
           "write_transaction"]

# sqlite3.Connection or postgres.PostgresConnection: both run ``execute(sql, params)`` with ``?`` placeholders.
Connection = Any


def is_postgres(conn: Connection) -> bool:
    return getattr(conn, "dialect", None) == "postgresql"


# SQLite's types as PostgreSQL needs them for the same values: 64-bit ids and sizes (a checkpoint passes
# 2 GiB), doubles (REAL is 4 bytes there, and the audit compares dollars exactly), and byte-order text
# comparison (ISO times and run ids sort as in SQLite, whatever the database's locale).
_PG_TYPES = (
    (re.compile(r"\bid INTEGER PRIMARY KEY\b"), "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
)


def ddl(conn: Connection, statement: str) -> str:
    """A CREATE TABLE/INDEX written for SQLite, in the form ``conn``'s database takes."""
    if not is_postgres(conn):
        return statement
    for pattern, replacement in _PG_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement


def insert_returning_id(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """Run an INSERT and return the new row's ``id``."""
    if is_postgres(conn):
        return conn.insert_returning_id(sql, params)
    return int(conn.execute(sql, params).lastrowid)


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction that holds the database's write lock from its first statement.

    SQLite: ``BEGIN IMMEDIATE``. PostgreSQL: the ledger's advisory lock (see ``postgres.py``).
    Rolled back on any error.
    """
    if is_postgres(conn):
        with conn.write_transaction():
            yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def retryable_errors(conn: Connection) -> tuple[type[BaseException], ...]:
    """Errors after which a rolled-back write may run again unchanged (none for SQLite: it waits instead)."""
    if is_postgres(conn):
        from stager.ledger.postgres import retryable_errors as postgres_retryable

        return postgres_retryable()
    return ()


def database_errors(conn: Connection) -> tuple[type[BaseException], ...]:
    """The driver's errors for a database that is not (or not yet) a ledger."""
    if is_postgres(conn):
        from stager.ledger.postgres import driver

        return (driver().Error,)
    return (sqlite3.DatabaseError,)
