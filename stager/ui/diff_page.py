"""``/diff?a=ID&b=ID``: why two runs' results differ, section by section, as `stager runs diff` says it.

The comparison is ``stager.audit.diff.diff_runs``'s; this page only lays it out: the
data files that changed first (usually the answer), then each section's table, then
the sections with no difference (an empty section is a claim that nothing changed).
"""

from __future__ import annotations

import json
from typing import Any

from stager.audit.diff import Change, RunDiff, diff_runs
from stager.errors import UsageError
from stager.ledger import Ledger, RunRecord
from stager.storage.manifest import ManifestStore
from stager.ui.layout import document, run_url, table, text
from stager.ui.readonly import read_ledger
from stager.ui.responses import Page, PageError
from stager.ui.site import Site

__all__ = ["render"]

_TITLES = {"spec": "Spec", "data": "Data", "image": "Image", "environment": "Versions", "code": "Code",
           "cost": "Cost", "metrics": "Final metrics"}


def render(site: Site, params: dict[str, str]) -> Page:
    given = {side: params.get(side, "").strip() for side in ("a", "b")}
    missing = [side for side, value in given.items() if not value]
    if missing:
        raise PageError(400, f"pick two runs to compare: {' and '.join(missing)} missing "
                             "(tick A and B in the runs table, or open /diff?a=RUN_ID&b=RUN_ID)")
    with read_ledger(site.ledger) as opened:
        if opened is None:
            raise PageError(404, f"no run {given['a']}: there is no ledger at {site.ledger} yet")
        record_a, record_b = (_record(opened.ledger, given[side]) for side in ("a", "b"))
    result = diff_runs(record_a, record_b, manifests=ManifestStore(site.home))
    title = f"{result.a} → {result.b}"
    return Page(document(f"diff {title}", _body(result)))


def _record(ledger: Ledger, run_id: str) -> RunRecord:
    try:
        return ledger.run(run_id)
    except UsageError as exc:
        raise PageError(404 if str(exc).startswith("no run") else 400, str(exc)) from None


def _body(result: RunDiff) -> str:
    head = (f'<h1>Diff: <a href="{run_url(result.a)}">{text(result.a)}</a> → '
            f'<a href="{run_url(result.b)}">{text(result.b)}</a></h1>'
            '<p class="muted">A is the first run, B the second; Δ is B − A.</p>')
    files = [c for c in result.data if "/" in c.path]
    parts = [head]
    if files:
        parts.append(f'<h2 id="data-files">Changed data files ({len(files)})</h2>' + table(
            ["file", "change", "A", "B"],
            [[f'<span class="mono">{text(c.path)}</span>', _kind(c), text(_value(c.a)), text(_value(c.b))]
             for c in files], css="data-files"))
    same = []
    for name, changes in result.sections().items():
        shown = [c for c in changes if name != "data" or "/" not in c.path]
        if not changes:
            same.append(_TITLES[name])
            continue
        if shown:
            parts.append(f'<h2 id="{name}">{_TITLES[name]} ({len(shown)})</h2>' + _section(shown))
    if same:
        parts.append(f'<p class="muted" id="same">No differences in: {text(", ".join(same))}.</p>')
    return "".join(parts)


def _section(changes: list[Change]) -> str:
    with_delta = any(c.delta is not None for c in changes)
    with_note = any(c.note for c in changes)
    headings = ["what", "change", "A", "B"] + (["Δ"] if with_delta else []) + (["note"] if with_note else [])
    rows = []
    for change in changes:
        row = [f'<span class="mono">{text(change.path)}</span>', _kind(change), text(_value(change.a)),
               text(_value(change.b))]
        if with_delta:
            row.append(text(f"{change.delta:+.6g}" if change.delta is not None else ""))
        if with_note:
            row.append(text(change.note))
        rows.append(row)
    return table(headings, rows, numeric=frozenset({4}) if with_delta else frozenset())


def _kind(change: Change) -> str:
    return f'<span class="kind-{text(change.kind)}">{text(change.kind)}</span>'


def _value(value: Any) -> str:
    """A changed value as a short line: text as is, numbers to six digits, a data file as digest and size."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and set(value) == {"sha256", "size"}:
        return f"sha256 {value['sha256'][:12]}…, {value['size']:,} bytes"
    return json.dumps(value, sort_keys=True)
