"""The runs table's query: filters, sorting and one page of rows, all done in SQL.

A page of the default view (newest first) walks the ``runs_by_created`` index and
stops after one page, so it costs the same at 10,000 runs as at 100. Sorting by a
derived column (state, cost, duration) computes it for every run that passes the
filters, in SQLite, and still fetches one page.

The derived columns follow the ledger's own definitions (``stager.ledger.reading``):
a run's state is its latest transition, its estimate the latest estimate recorded,
its actual cost the latest actual recorded, else the sum billed for its deleted resources.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from stager.errors import UsageError
from stager.ledger import STATES, TERMINAL, RunSummary
from stager.ledger.backend import is_postgres
from stager.ledger.timestamps import parse_since, parse_time, time_text
from stager.ui.responses import PageError

__all__ = ["ORDERS", "PER_PAGE", "SORTS", "RunQuery", "RunsPage", "pipelines", "runs_page"]

PER_PAGE = 100
ORDERS = ("desc", "asc")
# sort name -> (column of the summaries below, whether it can be NULL)
_SORT_COLUMNS = {
    "created": ("s.created", False),
    "duration": ("duration_s", False),
    "cost": ("actual", True),
    "estimated": ("s.estimated_usd", True),
    "state": ("s.state", False),
    "pipeline": ("s.pipeline", False),
}
SORTS = tuple(_SORT_COLUMNS)

_TERMINAL_SQL = ", ".join(f"'{state}'" for state in TERMINAL)
_SUMMARIES = """
SELECT s.*, COALESCE(s.actual_usd, s.billed_usd) AS actual,
  {seconds} AS duration_s
FROM (
  SELECT {row_order} AS row_order, r.id, r.pipeline, r.pipeline_file, r.target, r.sprint_id, r.created,
    COALESCE((SELECT t.state FROM transitions t WHERE t.run_id = r.id ORDER BY t.event_id DESC LIMIT 1),
             'pending') AS state,
    (SELECT e.time FROM transitions t JOIN events e ON e.id = t.event_id WHERE t.run_id = r.id
       ORDER BY t.event_id DESC LIMIT 1) AS state_time,
    (SELECT c.estimated_usd FROM costs c WHERE c.run_id = r.id AND c.estimated_usd IS NOT NULL
       ORDER BY c.event_id DESC LIMIT 1) AS estimated_usd,
    (SELECT c.actual_usd FROM costs c WHERE c.run_id = r.id AND c.actual_usd IS NOT NULL
       ORDER BY c.event_id DESC LIMIT 1) AS actual_usd,
    (SELECT SUM(d.usd) FROM resource_deletions d WHERE d.run_id = r.id) AS billed_usd
  FROM runs r {where}
) s
"""
_END = f"CASE WHEN s.state IN ({_TERMINAL_SQL}) THEN s.state_time ELSE :now END"
# The two spellings of "seconds from created to end" and of insertion order: SQLite's rowid follows the
# created index, so the default view needs no sort step; PostgreSQL has no rowid, and run ids sort by time.
_DIALECTS = {
    "sqlite": {"seconds": f"(julianday({_END}) - julianday(s.created)) * 86400.0", "row_order": "r.rowid"},
    "postgresql": {"seconds": f"EXTRACT(EPOCH FROM (CAST({_END} AS timestamptz) - CAST(s.created AS timestamptz)))",
                   "row_order": "r.id"},
}


def _summaries(conn, where: str) -> str:
    return _SUMMARIES.format(where=where, **_DIALECTS["postgresql" if is_postgres(conn) else "sqlite"])


@dataclass(frozen=True)
class RunQuery:
    """What the runs table shows: the filters given (None: any), the sort and the page (from 1)."""

    status: str | None = None
    pipeline: str | None = None
    sprint: str | None = None
    since: str | None = None  # as the user wrote it: 7d, 2026-11-01, an ISO time
    id_prefix: str | None = None
    sort: str = "created"
    order: str = "desc"
    page: int = 1

    @classmethod
    def from_params(cls, params: dict[str, str]) -> RunQuery:
        """The query a URL's parameters ask for; empty values mean "any".

        Raises:
            PageError: 400, naming the parameter and what it takes.
        """
        def given(name: str) -> str | None:
            value = params.get(name, "").strip()
            return value or None

        status, sort, order = given("status"), given("sort") or "created", given("order") or "desc"
        if status is not None and status not in STATES:
            raise PageError(400, f"status={status!r} is not a state; use one of {', '.join(STATES)}")
        if sort not in _SORT_COLUMNS:
            raise PageError(400, f"sort={sort!r} is not a column to sort by; use one of {', '.join(SORTS)}")
        if order not in ORDERS:
            raise PageError(400, f"order={order!r}: use asc or desc")
        page_text = given("page") or "1"
        if not page_text.isdigit() or int(page_text) < 1:
            raise PageError(400, f"page={page_text!r}: use a page number from 1")
        query = cls(status=status, pipeline=given("pipeline"), sprint=given("sprint"), since=given("since"),
                    id_prefix=given("q"), sort=sort, order=order, page=int(page_text))
        query.since_time()  # refuse a bad date now, before any page is drawn
        return query

    def since_time(self) -> datetime | None:
        """``since`` as a time.

        Raises:
            PageError: 400 when it is not a date, an ISO time or an age.
        """
        if self.since is None:
            return None
        try:
            return parse_since(self.since)
        except UsageError as exc:
            raise PageError(400, f"since: {exc}") from None

    def params(self, **changes: object) -> dict[str, str]:
        """The URL parameters that ask for this query with ``changes``; defaults are left out."""
        query = replace(self, **changes)
        values = {"status": query.status, "pipeline": query.pipeline, "sprint": query.sprint, "since": query.since,
                  "q": query.id_prefix, "sort": None if query.sort == "created" else query.sort,
                  "order": None if query.order == "desc" else query.order,
                  "page": None if query.page == 1 else str(query.page)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunSummary]
    total: int  # runs matching the filters, on every page
    page: int  # the page shown, from 1 (the last one when more was asked)
    pages: int  # at least 1

    @property
    def first_index(self) -> int:
        """The position (from 1) of the first run shown, among all that match."""
        return (self.page - 1) * PER_PAGE + 1


def runs_page(conn: sqlite3.Connection, query: RunQuery, *, now: datetime | None = None,
              per_page: int = PER_PAGE) -> RunsPage:
    """One page of the runs matching ``query``, sorted as it asks, and how many match in all."""
    now = now or datetime.now(timezone.utc)
    clauses, params = _run_filters(query)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    state_filter = " WHERE s.state = :status" if query.status is not None else ""
    params.update(now=time_text(now), status=query.status)
    summaries = _summaries(conn, where)
    if query.status is None:
        total = conn.execute(f"SELECT COUNT(*) FROM runs r {where}", params).fetchone()[0]
    else:
        total = conn.execute(f"SELECT COUNT(*) FROM ({summaries}{state_filter}) AS matching", params).fetchone()[0]
    pages = max(1, -(-total // per_page))
    page = min(query.page, pages)
    column, nullable = _SORT_COLUMNS[query.sort]
    direction = query.order.upper()
    # rowid breaks ties in insertion order, which the created index already holds: no sort step for the default
    order = f"{column} IS NULL, " if nullable else ""
    order += f"{column} {direction}, s.row_order {direction}"
    rows = conn.execute(f"{summaries}{state_filter} ORDER BY {order} LIMIT :limit OFFSET :offset",
                        {**params, "limit": per_page, "offset": (page - 1) * per_page}).fetchall()
    return RunsPage(runs=[_summary(row) for row in rows], total=total, page=page, pages=pages)


def pipelines(conn: sqlite3.Connection) -> list[str]:
    """Every pipeline name in the ledger, for the filter's suggestions."""
    return [row[0] for row in conn.execute("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline")]


def _run_filters(query: RunQuery) -> tuple[list[str], dict[str, object]]:
    """SQL conditions on the ``runs`` table itself (they can use its indexes), with their parameters."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    since = query.since_time()
    if since is not None:
        clauses.append("r.created >= :since")
        params["since"] = time_text(since)
    if query.pipeline is not None:
        clauses.append("r.pipeline = :pipeline")
        params["pipeline"] = query.pipeline
    if query.sprint is not None:
        clauses.append("r.sprint_id = :sprint")
        params["sprint"] = query.sprint
    if query.id_prefix is not None:
        clauses.append("substr(r.id, 1, :prefix_length) = :prefix")
        params.update(prefix=query.id_prefix, prefix_length=len(query.id_prefix))
    return clauses, params


def _summary(row: sqlite3.Row) -> RunSummary:
    state = row["state"]
    finished = parse_time(row["state_time"]) if state in TERMINAL and row["state_time"] else None
    actual = row["actual"]
    return RunSummary(
        id=row["id"], pipeline=row["pipeline"], pipeline_file=row["pipeline_file"], target=row["target"],
        sprint_id=row["sprint_id"], state=state, created=parse_time(row["created"]), finished=finished,
        estimated_usd=row["estimated_usd"], actual_usd=round(actual, 4) if actual is not None else None,
    )
