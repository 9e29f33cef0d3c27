"""``/runs``: the runs table, filtered, sorted and paginated by the server from the URL's parameters.

Everything is a plain link or a GET form, so the page works without JavaScript: the
filters are a form, each column heading is a link that sorts by it, and the table
itself is a form whose two radio columns pick runs A and B for ``/diff``.
"""

from __future__ import annotations

from stager import display
from stager.ledger import STATES, RunSummary
from stager.ui.layout import document, link, run_url, text, url
from stager.ui.queries import PER_PAGE, RunQuery, RunsPage, pipelines, runs_page
from stager.ui.readonly import read_ledger
from stager.ui.responses import Page
from stager.ui.site import Site

__all__ = ["render"]

# (heading, sort it links to or None, numeric): the table's columns after the two pickers
_COLUMNS = (("id", None, False), ("pipeline", "pipeline", False), ("target", None, False), ("state", "state", False),
            ("created", "created", False), ("duration", "duration", True), ("estimated", "estimated", True),
            ("actual", "cost", True))
# The direction a first click on a heading sorts in: biggest and newest first, names from A.
_FIRST_ORDER = {"pipeline": "asc", "state": "asc"}


def render(site: Site, params: dict[str, str]) -> Page:
    query = RunQuery.from_params(params)
    with read_ledger(site.ledger) as opened:
        if opened is None:
            body = f"<h1>Runs</h1><p>No runs yet: there is no ledger at {text(site.ledger)}.</p>"
            return Page(document("Runs", body, current="/runs"))
        result = runs_page(opened.conn, query)
        names = pipelines(opened.conn)
    body = "<h1>Runs</h1>" + _filters(query, names) + _summary_line(result) + _table(query, result)
    return Page(document("Runs", body, current="/runs"))


def _filters(query: RunQuery, names: list[str]) -> str:
    states = "".join(f"<option{' selected' if s == query.status else ''}>{text(s)}</option>" for s in STATES)
    suggestions = "".join(f'<option value="{text(n)}">' for n in names)
    kept = "".join(f'<input type=hidden name="{name}" value="{text(value)}">'
                   for name, value in query.params().items() if name in ("sort", "order"))

    def field(label: str, name: str, value: str | None, placeholder: str, extra: str = "") -> str:
        return (f'<label>{label}<input name="{name}" value="{text(value or "")}" placeholder="{placeholder}"'
                f"{extra}></label>")

    return ('<form class="filters" method="get" action="/runs">'
            f'<label>status<select name="status"><option value="">any</option>{states}</select></label>'
            + field("pipeline", "pipeline", query.pipeline, "any", ' list="pipelines"')
            + f'<datalist id="pipelines">{suggestions}</datalist>'
            + field("sprint", "sprint", query.sprint, "sprint id")
            + field("since", "since", query.since, "7d or 2026-11-01")
            + field("id starts with", "q", query.id_prefix, "r2026")
            + f'{kept}<button type="submit">Filter</button>{link(url("/runs"), "clear")}</form>')


def _summary_line(result: RunsPage) -> str:
    if not result.total:
        return '<p class="muted" id="count">No runs match these filters.</p>'
    last = result.first_index + len(result.runs) - 1
    return (f'<p class="muted" id="count">Runs {result.first_index:,}–{last:,} of {result.total:,}'
            f" (page {result.page} of {result.pages}).</p>")


def _table(query: RunQuery, result: RunsPage) -> str:
    heads = "<th>A</th><th>B</th>" + "".join(_heading(query, *column) for column in _COLUMNS)
    rows = "".join(_row(run) for run in result.runs)
    compare = '<button type="submit">Compare A with B</button>'
    return (f'<form method="get" action="/diff">{compare}'
            f'<table id="runs"><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>'
            f"{compare}</form>{_pager(query, result)}")


def _heading(query: RunQuery, title: str, sort: str | None, numeric: bool) -> str:
    css = ' class="num"' if numeric else ""
    if sort is None:
        return f"<th{css}>{title}</th>"
    if query.sort == sort:
        order = "asc" if query.order == "desc" else "desc"
        title += " ▼" if query.order == "desc" else " ▲"
    else:
        order = _FIRST_ORDER.get(sort, "desc")
    href = url("/runs", query.params(sort=sort, order=order, page=1))
    return f'<th{css} data-sort="{sort}">{link(href, title)}</th>'


def _row(run: RunSummary) -> str:
    so_far = "" if run.is_finished else " (so far)"
    value = text(run.id)
    cells = [
        f'<td><input type=radio name=a value="{value}" aria-label="A: {value}"></td>',
        f'<td><input type=radio name=b value="{value}" aria-label="B: {value}"></td>',
        f'<td class="id"><a href="{run_url(run.id)}">{value}</a></td>',
        f"<td>{text(run.pipeline)}</td>",
        f"<td>{text(run.target)}</td>",
        f'<td class="state-{text(run.state)}">{text(run.state)}</td>',
        f"<td>{text(display.when(run.created))}</td>",
        f'<td class="num">{text(display.duration(run.duration()) + so_far)}</td>',
        f'<td class="num">{text(display.usd(run.estimated_usd))}</td>',
        f'<td class="num">{text(display.usd(run.actual_usd))}</td>',
    ]
    return f'<tr data-run-id="{value}">{"".join(cells)}</tr>'


def _pager(query: RunQuery, result: RunsPage) -> str:
    if result.pages == 1:
        return ""
    steps = (("« first", 1), ("‹ previous", result.page - 1), ("next ›", result.page + 1),
             ("last »", result.pages))
    links = [link(url("/runs", query.params(page=number)), label) if 1 <= number <= result.pages
             and number != result.page else f'<span class="muted">{label}</span>' for label, number in steps]
    return f'<div class="pager">{"".join(links)}<span class="muted">{PER_PAGE} per page</span></div>'
