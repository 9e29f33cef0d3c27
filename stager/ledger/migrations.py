"""Numbered schema migrations: small registered functions, each applied once in its own transaction.

A migration is registered with its number and name::

    MIGRATIONS = Migrations("ledger")

    @MIGRATIONS(1, "create_runs")
    def _(conn): conn.execute("CREATE TABLE runs (...)")

``apply`` runs the missing ones in order and records each in the ``migrations``
table (number, name, UTC time) inside the same transaction as its DDL, so a crash
leaves a migration either wholly applied and recorded or not at all. A database
that records a number this code does not know was written by a newer stager and
is refused rather than guessed at.

Not supported: going back down (there are no reverse migrations), and branches
(numbers are one straight line, 1, 2, 3, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stager.errors import UsageError
from stager.ledger.backend import Connection, is_postgres
from stager.ledger.connection import immediate
from stager.ledger.timestamps import time_text, utc_now

__all__ = ["AppliedMigration", "Migration", "Migrations"]

Step = Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    number: int  # 1, 2, 3, ... in the order they must run
    name: str  # says what it does, e.g. "create_costs"
    step: Step  # executes the DDL on the open transaction; must not commit


@dataclass(frozen=True)
class AppliedMigration:
    number: int
    name: str
    applied: datetime


class Migrations:
    """An ordered set of migrations and the bookkeeping table that records them."""

    table = "migrations"

    def __init__(self, label: str) -> None:
        self.label = label  # named in errors: "the ledger at ... needs schema 9"
        self._steps: list[Migration] = []

    def __call__(self, number: int, name: str) -> Callable[[Step], Step]:
        """Register the decorated function as migration ``number``.

        Raises:
            ValueError: ``number`` does not follow the last registered one.
        """

        def register(step: Step) -> Step:
            expected = len(self._steps) + 1
            if number != expected:
                raise ValueError(f"{self.label} migration {name!r} is numbered {number}; the next number is {expected}")
            self._steps.append(Migration(number, name, step))
            return step

        return register

    @property
    def latest(self) -> int:
        return len(self._steps)

    @property
    def all(self) -> list[Migration]:
        return list(self._steps)

    def applied(self, conn: Connection) -> list[AppliedMigration]:
        """What the database records, oldest first (empty for a new file)."""
        self._ensure_table(conn)
        rows = conn.execute(f"SELECT number, name, applied FROM {self.table} ORDER BY number").fetchall()
        return [AppliedMigration(r[0], r[1], datetime.fromisoformat(r[2])) for r in rows]

    def apply(self, conn: Connection, *, up_to: int | None = None, where: str = "") -> list[Migration]:
        """Apply every missing migration (or those up to ``up_to``) and return the ones applied now.

        Safe when several processes open the same new file at once: each migration
        re-checks, under the write lock, whether another process applied it first.

        Raises:
            UsageError: the database records a schema newer than this code knows.
        """
        self._ensure_table(conn)
        self._refuse_newer(conn, where)
        done: list[Migration] = []
        for migration in self._steps[: up_to if up_to is not None else None]:
            with immediate(conn):
                if self._is_applied(conn, migration.number):
                    continue
                migration.step(conn)
                conn.execute(f"INSERT INTO {self.table} (number, name, applied) VALUES (?, ?, ?)",
                             (migration.number, migration.name, time_text(utc_now())))
            done.append(migration)
        return done

    def _ensure_table(self, conn: Connection) -> None:
        create = (f"CREATE TABLE IF NOT EXISTS {self.table} ("
                  "number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)")
        if is_postgres(conn):
            # PostgreSQL's IF NOT EXISTS is not atomic: two first openers could both create it.
            with immediate(conn):
                conn.execute(create)
        else:
            conn.execute(create)

    def _is_applied(self, conn: Connection, number: int) -> bool:
        return conn.execute(f"SELECT 1 FROM {self.table} WHERE number = ?", (number,)).fetchone() is not None

    def _refuse_newer(self, conn: Connection, where: str) -> None:
        newest = conn.execute(f"SELECT number, name FROM {self.table} ORDER BY number DESC LIMIT 1").fetchone()
        if newest is not None and newest[0] > self.latest:
            place = f" at {where}" if where else ""
            raise UsageError(f"the {self.label}{place} has schema {newest[0]} ({newest[1]}), newer than this stager "
                             f"knows (up to {self.latest}); upgrade stager to read it")
