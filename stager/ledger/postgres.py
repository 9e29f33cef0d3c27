"""The ledger in PostgreSQL: a connection that speaks the SQL the ledger writes for SQLite.

The ledger's queries use SQLite's ``?`` (and the UI's ``:name``) placeholders and
read rows by column name or position; ``PostgresConnection.execute`` translates the
placeholders to psycopg's ``%s`` / ``%(name)s`` and returns rows that index both ways,
so the same query text runs on both databases.

Writers serialise on one transaction-scoped advisory lock, the counterpart of
SQLite's ``BEGIN IMMEDIATE``: a writer holds it before it reads a chain head, so two
machines never extend a run's chain from the same head, and checks that span runs
(a provider id live in only one run, a run id used once) hold too. Transactions
run at READ COMMITTED, where each statement after the lock sees every earlier
commit; ``RETRYABLE`` names the errors a server configured otherwise may still
raise, which the ``Ledger`` retries.

Not supported: connection poolers in transaction mode that drop advisory locks
between statements (PgBouncer ``pool_mode=transaction`` keeps them within one
transaction, which is all the ledger needs, so it works; statement mode does not).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from stager.errors import UsageError
from stager.ledger.location import LEDGER_URL_ENV, redact_secrets_in, redact_url

__all__ = ["CONNECT_TIMEOUT_S", "PostgresConnection", "Row", "connect", "driver", "retryable_errors"]

CONNECT_TIMEOUT_S = 15
# One lock for every ledger writer in the database; hashtext() of a fixed name keeps it readable in pg_locks.
_WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('stager.ledger.write'))"
_INSTALL_HINT = "pip install 'stager[postgres]'"


def driver() -> Any:
    """The psycopg module.

    Raises:
        UsageError: psycopg is not installed.
    """
    try:
        import psycopg
    except ImportError:
        raise UsageError(f"{LEDGER_URL_ENV} names a PostgreSQL ledger but its driver, psycopg, is not installed: "
                         f"{_INSTALL_HINT}") from None
    return psycopg


def retryable_errors() -> tuple[type[BaseException], ...]:
    """Errors after which a whole write transaction may simply run again."""
    errors = driver().errors
    return errors.SerializationFailure, errors.DeadlockDetected


class Row(Sequence):
    """A row read by position (``row[0]``) or by column name (``row["id"]``), as ``sqlite3.Row`` is."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: Mapping[str, int]) -> None:
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values))!r})"


def _row_factory(cursor: Any) -> Any:
    names: dict[str, int] = {}
    for index, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, index)  # the first of two equal names wins, as in sqlite3.Row
    return lambda values: Row(values, names)


# A quoted literal or identifier (left alone), a ``?``, a ``:name`` (not a ``::`` cast) or a ``%``.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|:[A-Za-z_][A-Za-z0-9_]*|%")


@functools.lru_cache(maxsize=512)
def translate(sql: str, named: bool) -> str:
    """SQLite placeholders in ``sql`` as psycopg's: ``?`` → ``%s``, ``:name`` → ``%(name)s``, ``%`` → ``%%``."""

    def swap(match: re.Match) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.startswith(":") and token != "::" and named:
            return f"%({token[1:]})s"
        if token.startswith("'") or token.startswith('"'):
            return token.replace("%", "%%")
        return token

    return _TOKENS.sub(swap, sql)


class PostgresConnection:
    """One connection to the ledger's database, in autocommit between explicit write transactions."""

    dialect = "postgresql"

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self._url = url
        self._read_only = read_only
        self.where = redact_url(url)  # how errors name this ledger
        self._conn = self._connect()
        self._in_transaction = False

    def _connect(self) -> Any:
        psycopg = driver()
        try:
            conn = psycopg.connect(self._url, autocommit=True, row_factory=_row_factory,
                                   connect_timeout=CONNECT_TIMEOUT_S, application_name="stager")
        except psycopg.Error as exc:
            raise UsageError(f"{self.where}: cannot open the ledger ({self.describe(exc)})") from None
        if self._read_only:
            # Enforced by the server: any write the code might attempt fails there.
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return conn

    def describe(self, exc: BaseException) -> str:
        """An error's message on one line, with the URL's password masked."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        return redact_secrets_in(text, self._url)

    def _live(self) -> Any:
        """The connection, opened again when the server or the network dropped it between calls."""
        if (self._conn.closed or self._conn.broken) and not self._in_transaction:
            self._conn = self._connect()
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """Run one statement with SQLite-style placeholders; returns the cursor (fetchone, fetchall, iteration)."""
        if not params:  # without parameters psycopg reads the text as it is: no placeholders, no %% escapes
            return self._live().execute(sql)
        return self._live().execute(translate(sql, isinstance(params, Mapping)), params)

    def insert_returning_id(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT and return the ``id`` the database gave the new row."""
        return int(self.execute(f"{sql} RETURNING id", params).fetchone()[0])

    @contextmanager
    def write_transaction(self) -> Iterator[PostgresConnection]:
        """One transaction holding the ledger's write lock from its start; rolled back on any error."""
        conn = self._live()
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._in_transaction = True
        try:
            conn.execute(_WRITE_LOCK)
            yield self
        except BaseException:
            self._in_transaction = False
            if not conn.closed:
                conn.execute("ROLLBACK")
            raise
        self._in_transaction = False
        conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def connect(url: str, *, read_only: bool = False) -> PostgresConnection:
    """Connect to the ledger database at ``url``.

    Raises:
        UsageError: psycopg is missing, or the server cannot be reached or refuses the login
            (the message masks the URL's password).
    """
    return PostgresConnection(url, read_only=read_only)
