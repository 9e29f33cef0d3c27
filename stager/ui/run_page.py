"""``/runs/<id>``: one run's report, as ``stager.audit.report`` draws it, under the UI's navigation."""

from __future__ import annotations

from stager.errors import UsageError
from stager.ledger.reading import resolve_run_id
from stager.ui.layout import nav
from stager.ui.readonly import read_ledger
from stager.ui.responses import Page, PageError
from stager.ui.site import Site

__all__ = ["render"]


def render(site: Site, run_id: str) -> Page:
    """The report of ``run_id`` (a unique start of an id is enough).

    Raises:
        PageError: 404 when no run has that id (or there is no ledger), 400 when a prefix matches several.
    """
    from stager.audit.report import report_html  # the report module is large; only this page needs it

    with read_ledger(site.ledger) as opened:
        if opened is None:
            raise PageError(404, f"no run {run_id}: there is no ledger at {site.ledger} yet")
        try:
            resolved = resolve_run_id(opened.conn, run_id)
        except UsageError as exc:
            raise PageError(404 if str(exc).startswith("no run") else 400, str(exc)) from None
        return Page(report_html(opened.ledger, resolved, runs_dir=site.runs_dir, home=site.home, nav=nav("/runs")))
