"""``/cost?by=day|month|pipeline|sprint|plan&since=...``: the cost report as a table and bar charts.

The numbers are ``stager.audit.costs.cost_report``'s, the same as `stager cost report`
prints: a sprint's money is counted once, image builds have an estimate but no bill.
"""

from __future__ import annotations

from datetime import datetime, timezone

from stager import display
from stager.audit.costs import GROUPINGS, CostReport, CostRow, cost_report
from stager.audit.svg import bar_chart
from stager.errors import UsageError
from stager.ledger.timestamps import parse_since
from stager.ui.layout import document, link, table, text, url
from stager.ui.readonly import read_ledger
from stager.ui.responses import Page, PageError
from stager.ui.site import Site

__all__ = ["render"]

_HEADINGS = ["group", "runs", "sprints", "builds", "instance-h", "billed", "estimated", "difference"]


def render(site: Site, params: dict[str, str]) -> Page:
    by = params.get("by", "").strip() or "day"
    since_text = params.get("since", "").strip() or None
    if by not in GROUPINGS:
        raise PageError(400, f"by={by!r}: group costs by one of {', '.join(GROUPINGS)}")
    now = datetime.now(timezone.utc)
    try:
        since = parse_since(since_text, now) if since_text else None
    except UsageError as exc:
        raise PageError(400, f"since: {exc}") from None
    with read_ledger(site.ledger) as opened:
        report = cost_report(opened.ledger if opened else None, by=by, since=since, now=now)
    body = "<h1>Cost</h1>" + _form(by, since_text)
    if opened is None:
        body += f"<p>No runs yet: there is no ledger at {text(site.ledger)}.</p>"
    else:
        body += _charts(report) + _table(report) + "".join(f'<p class="muted">note: {text(n)}</p>'
                                                          for n in report.notes())
    return Page(document("Cost", body, current="/cost"))


def _form(by: str, since: str | None) -> str:
    groupings = " · ".join(f"<strong>{g}</strong>" if g == by else link(url("/cost", _params(g, since)), g)
                           for g in GROUPINGS)
    return (f'<p>Group by: {groupings}</p><form class="filters" method="get" action="/cost">'
            f'<input type=hidden name=by value="{text(by)}">'
            f'<label>since<input name=since value="{text(since or "")}" placeholder="7d or 2026-11-01"></label>'
            '<button type="submit">Show</button></form>')


def _params(by: str, since: str | None) -> dict[str, str]:
    return {"by": by, **({"since": since} if since else {})}


def _charts(report: CostReport) -> str:
    """Billed dollars per group, then estimated dollars: each a bar chart over the same groups."""
    billed = [(row.group, row.billed_usd) for row in report.rows if row.billed_usd is not None]
    estimated = [(row.group, row.estimated_usd) for row in report.rows if row.estimated_usd is not None]
    charts = bar_chart(billed, title=f"billed dollars by {report.by}", y_label="$")
    if estimated:
        charts += bar_chart(estimated, title=f"estimated dollars by {report.by}", y_label="$")
    return f'<div class="charts">{charts}</div>'


def _table(report: CostReport) -> str:
    if not report.rows:
        return "<p>Nothing billed or estimated.</p>"
    rows = [_cells(row) for row in report.rows] + [[f"<strong>{c}</strong>" for c in _cells(report.total)]]
    return table(_HEADINGS, rows, numeric=frozenset(range(1, len(_HEADINGS))), css="cost")


def _cells(row: CostRow) -> list[str]:
    hours = f"{row.instance_hours}" + (f" ({row.live_instances} live)" if row.live_instances else "")
    return [text(row.group), str(row.runs), str(row.sprints), str(row.builds), text(hours),
            text(display.usd(row.billed_usd)), text(display.usd(row.estimated_usd)),
            text(display.usd(row.difference_usd, signed=True))]
