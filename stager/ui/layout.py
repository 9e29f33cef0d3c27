"""The shell every page shares: one self-contained HTML document with its own CSS and the navigation.

Nothing is loaded from elsewhere (no scripts, fonts or stylesheets), so a page opens
the same without a network. Every value that came from the ledger or the URL goes
through ``text()`` before it reaches HTML.
"""

from __future__ import annotations

from html import escape
from http import HTTPStatus
from urllib.parse import quote, urlencode

__all__ = ["document", "error_document", "link", "nav", "run_url", "table", "text", "url"]

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #222; }
h1 { font-size: 1.35rem; margin: .4rem 0 .8rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; margin: .3rem 0 1rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f6f6f6; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id, td.mono { font-family: ui-monospace, monospace; font-size: 13px; }
a { color: #0b5cad; }
form.filters { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
.muted { color: #777; }
.state-failed, .state-aborted { color: #b00020; }
.state-succeeded { color: #1b7f3b; }
.pager { display: flex; gap: 1rem; margin: .5rem 0; }
.error { border-left: 4px solid #b00020; padding: .5rem 1rem; background: #fff4f4; }
.kind-added { color: #1b7f3b; } .kind-removed { color: #b00020; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; margin: .5rem 0 1rem; }
"""

# (path, label) of the pages reached from every page
_SECTIONS = (("/runs", "Runs"), ("/cost", "Cost"))


def text(value: object) -> str:
    """``value`` as HTML-safe text (quotes too, so it may also stand in an attribute)."""
    return escape("" if value is None else str(value), quote=True)


def url(path: str, params: dict[str, str] | None = None) -> str:
    """A link target: ``path`` with its query string, escaped for an attribute."""
    query = urlencode(params or {})
    return text(f"{path}?{query}" if query else path)


def link(href: str, label: object, **attributes: str) -> str:
    """``<a>`` to an already escaped ``href`` (from ``url``), showing ``label`` escaped."""
    extra = "".join(f' {name}="{text(value)}"' for name, value in attributes.items())
    return f'<a href="{href}"{extra}>{text(label)}</a>'


def run_url(run_id: str) -> str:
    return text(f"/runs/{quote(run_id, safe='')}")


def nav(current: str = "") -> str:
    """The navigation bar, as raw HTML for the top of ``<body>``.

    Styled inline: the run report is a document of its own, without this stylesheet.
    """
    style = "color:#0b5cad;text-decoration:none;margin-right:1.2rem"
    links = "".join(f'<a href="{path}" style="{style}{";font-weight:600" if path == current else ""}"'
                    f'{" aria-current=page" if path == current else ""}>{label}</a>' for path, label in _SECTIONS)
    return ('<nav class="site" style="font:14px system-ui,sans-serif;padding:.7rem 0;margin-bottom:1rem;'
            f'border-bottom:1px solid #ddd"><strong style="margin-right:1.2rem">stager</strong>{links}</nav>')


def table(headings: list[str], rows: list[list[str]], *, numeric: frozenset[int] = frozenset(),
          css: str = "") -> str:
    """A table from already escaped cells; columns whose index is in ``numeric`` align right."""
    def cell(tag: str, index: int, content: str) -> str:
        return f'<{tag} class="num">{content}</{tag}>' if index in numeric else f"<{tag}>{content}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headings))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    css_class = f' class="{css}"' if css else ""
    return f"<table{css_class}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def document(title: str, body: str, *, current: str = "") -> str:
    """A whole page: ``title`` (plain text, escaped here) and ``body`` (HTML) under the navigation bar."""
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f'<link rel=icon href="data:,"><title>{text(title)} · stager</title><style>{_CSS}</style></head>'
            f"<body>{nav(current)}{body}</body></html>\n")


def error_document(status: int, message: str) -> str:
    """The page for a request that failed: the status and the one line that says why."""
    phrase = HTTPStatus(status).phrase
    return document(f"{status} {phrase}", f'<h1>{status} {text(phrase)}</h1><p class="error">{text(message)}</p>'
                    f'<p><a href="/runs">Back to the runs</a></p>')
