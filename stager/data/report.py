"""A validation report as a terminal table (rich), a JSON file or a self-contained HTML page.

The HTML page has its styles inline and loads nothing from the network, so it
can be mailed or archived with a run.  Every value is escaped.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stager.data.validation import ValidationReport
from stager.errors import UsageError

_ORDER = {"error": 0, "warn": 1, "info": 2}
_STYLE = {"error": "bold red", "warn": "yellow", "info": "dim"}
_SHOWN_INDICES = 5
_WIDE = 110  # columns below which findings are listed one per line


def _indices(indices: tuple[int, ...], count: int) -> str:
    if not indices:
        return ""
    shown = ", ".join(str(i) for i in indices[:_SHOWN_INDICES])
    return shown + (", ..." if count > min(len(indices), _SHOWN_INDICES) else "")


def _sorted(report: ValidationReport):
    return sorted(report.findings, key=lambda f: _ORDER.get(f.level, 3))


def _shape(inputs: dict | None) -> str:
    if not inputs:
        return "-"
    shape = "x".join(str(d) for d in inputs.get("shape") or []) or "scalar"
    return f"{shape} {inputs.get('dtype')}"


def _split_rows(report: ValidationReport) -> list[tuple[str, ...]]:
    rows = []
    for name, stats in report.splits.items():
        inputs, labels = stats.get("inputs"), stats.get("labels") or {}
        value_range = "-"
        if inputs and inputs.get("min") is not None:
            value_range = f"{inputs['min']:g} .. {inputs['max']:g}"
        imbalance = labels.get("imbalance")
        rows.append((name, str(stats.get("count", 0)), _shape(inputs), value_range,
                     str(len(labels.get("classes") or [])) if labels else "-",
                     f"{imbalance:.2f}" if imbalance else "-"))
    return rows


def render_table(report: ValidationReport, console: Console) -> None:
    """The splits, then the findings (errors first), then one line of verdict."""
    splits = Table(title=f"{report.root} ({report.layout})", title_justify="left")
    for column in ("split", "samples", "sample", "values", "classes", "imbalance"):
        splits.add_column(column, justify="right" if column in ("samples", "classes", "imbalance") else "left")
    for row in _split_rows(report):
        splits.add_row(*row)
    console.print(splits)
    if report.findings and console.width >= _WIDE:
        table = Table(show_lines=False)
        # Short columns never wrap; the message gets what width is left.
        for column in ("level", "check", "split"):
            table.add_column(column, no_wrap=True)
        table.add_column("file", overflow="fold", max_width=32)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("indices", overflow="fold", max_width=24)
        table.add_column("finding", overflow="fold", ratio=1)
        for f in _sorted(report):
            table.add_row(f"[{_STYLE.get(f.level, '')}]{f.level}[/]", f.check, f.split or "-", escape(f.file or "-"),
                          str(f.count), _indices(f.indices, f.count), escape(f.message))
        console.print(table)
    elif report.findings:
        # A narrow terminal: one finding per line reads better than a squeezed table.
        for f in _sorted(report):
            where = [part for part in (f.split, f.file) if part]
            if f.indices:
                where.append(f"samples {_indices(f.indices, f.count)}")
            detail = escape(f" ({', '.join(where)})") if where else ""
            console.print(f"[{_STYLE.get(f.level, '')}]{f.level:<5}[/] {escape(f.check)}: {escape(f.message)}{detail}",
                          highlight=False)
    off = [name for name, level in report.checks_run.items() if level == "off"]
    ran = len(report.checks_run) - len(off)
    errors, warnings = report.count("error"), report.count("warn")
    verdict = "[bold green]ok[/]" if report.ok else f"[bold red]{errors} error(s)[/]"
    console.print(f"{verdict}, {warnings} warning(s); {ran} checks ran"
                  + (f", off: {', '.join(off)}" if off else ""))


def write_report(report: ValidationReport, path: Path) -> None:
    """Write ``report`` as JSON (``.json``) or HTML (``.html``).

    Raises:
        UsageError: another suffix, or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"
    elif suffix in (".html", ".htm"):
        text = render_html(report)
    else:
        raise UsageError(f"{path}: a report is written as .json or .html, not {suffix or 'a file without a suffix'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top} th{background:#f3f3f3} .error{color:#b00;font-weight:bold} .warn{color:#a60} .info{color:#777}
.ok{color:#070;font-weight:bold} code{font-size:.9em} details{margin:.2em 0}
"""


def _cell(value) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def render_html(report: ValidationReport) -> str:
    """The report as one HTML page with no external resources."""
    esc = html.escape
    data = report.to_json()
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>stager data validation: {esc(report.root)}</title><style>{_CSS}</style></head><body>",
             f"<h1>Data validation: <code>{esc(report.root)}</code> ({esc(report.layout)})</h1>"]
    summary = data["summary"]
    verdict = ("<span class='ok'>ok</span>" if report.ok
               else f"<span class='error'>{summary['errors']} error(s)</span>")
    parts.append(f"<p>{verdict}, {summary['warnings']} warning(s), {summary['notes']} note(s).</p>")
    parts.append("<h2>Splits</h2><table><tr><th>split</th><th>samples</th><th>sample</th><th>values</th>"
                 "<th>classes</th><th>imbalance</th></tr>")
    for row in _split_rows(report):
        parts.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    parts.append("</table><h2>Findings</h2>")
    if report.findings:
        parts.append("<table><tr><th>level</th><th>check</th><th>split</th><th>file</th><th>count</th>"
                     "<th>indices</th><th>finding</th></tr>")
        for f in _sorted(report):
            detail = ""
            if f.other:
                detail = (f"<details><summary>detail</summary><pre>{esc(json.dumps(f.other, indent=1))}</pre>"
                          "</details>")
            parts.append(f"<tr><td class='{esc(f.level)}'>{esc(f.level)}</td>" + _cell(f.check)
                         + _cell(f.split or "-") + _cell(f.file or "-") + _cell(f.count)
                         + _cell(", ".join(map(str, f.indices))) + f"<td>{esc(f.message)}{detail}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No findings.</p>")
    parts.append("<h2>Checks</h2><table><tr><th>check</th><th>level</th></tr>")
    for name, level in report.checks_run.items():
        parts.append(f"<tr>{_cell(name)}<td class='{esc(level)}'>{esc(level)}</td></tr>")
    parts.append("</table><h2>Statistics</h2>")
    parts.append(f"<pre>{esc(json.dumps(report.splits, indent=1))}</pre></body></html>\n")
    return "\n".join(parts)
