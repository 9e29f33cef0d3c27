"""The HTTP server of ``stager ui``: loopback only, GET and HEAD only, one read-only ledger open per request.

Built on the standard library's ``ThreadingHTTPServer``. Responses are HTTP/1.1 with
a length, so a browser (or a benchmark) keeps its connection open between pages.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from stager.errors import UsageError
from stager.ui import cost_page, diff_page, run_page, runs_page
from stager.ui.layout import error_document
from stager.ui.responses import Page, PageError
from stager.ui.site import Site

__all__ = ["check_loopback", "make_server", "route"]

_ALLOWED = "GET, HEAD"
# Pages by exact path; /runs/<id> is matched by prefix in route().
_PAGES: dict[str, Callable[[Site, dict[str, str]], Page]] = {
    "/": runs_page.render,
    "/runs": runs_page.render,
    "/diff": diff_page.render,
    "/cost": cost_page.render,
}


def check_loopback(host: str) -> str:
    """``host`` when it is a loopback name or address.

    Raises:
        UsageError: any other host; the ledger is not meant for the network.
    """
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"--host {host}: the UI serves this machine only; use 127.0.0.1, ::1 or localhost "
                         "(from another machine, forward the port over SSH)")
    return host


def route(site: Site, target: str) -> Page:
    """The page for a request target (path and query), or an error page; never raises."""
    parts = urlsplit(target)
    path = unquote(parts.path)
    # the first value of each parameter; blank ones are kept so a cleared filter means "any"
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(name, value)
    try:
        if path in _PAGES:
            return _PAGES[path](site, params)
        if path.startswith("/runs/") and len(path) > len("/runs/"):
            return run_page.render(site, path[len("/runs/"):])
        raise PageError(404, f"no page {path}; the pages are /runs, /runs/<run id>, /diff?a=&b= and /cost")
    except PageError as exc:
        return Page(error_document(exc.status, exc.message), exc.status)
    except Exception as exc:  # a bug or a broken ledger: one line in the page and on stderr, the server lives on
        print(f"stager ui: {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return Page(error_document(500, f"{type(exc).__name__}: {exc}"), 500)


def make_server(site: Site, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to ``host``:``port`` (0: a free port), not yet serving.

    Raises:
        UsageError: ``host`` is not loopback, or the port cannot be bound.
    """
    check_loopback(host)
    server_class = _IPv6Server if ":" in host else _Server
    handler = type("Handler", (_Handler,), {"site": site})
    try:
        return server_class((host, port), handler)
    except OSError as exc:
        raise UsageError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                         "pick another port, or 0 for a free one") from None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that closes its connection mid-answer is normal, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD from ``route``; every other method is 405."""

    site: Site
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    # Headers and body go out as two writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True
    server_version = "stager-ui"

    def do_GET(self) -> None:  # noqa: N802 (the name http.server looks for)
        self._answer(route(self.site, self.path), send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(route(self.site, self.path), send_body=False)

    def _refuse(self) -> None:
        message = f"{self.command} is not allowed: the UI only reads ({_ALLOWED})"
        self._answer(Page(error_document(405, message), 405), send_body=True, allow=True)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def _answer(self, page: Page, *, send_body: bool, allow: bool = False) -> None:
        body = page.body.encode()
        self.send_response(page.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # the ledger grows while the page is open
        self.send_header("X-Content-Type-Options", "nosniff")
        if allow:
            self.send_header("Allow", _ALLOWED)
            self.close_connection = True  # a refused request's body is never read, so the stream is not reusable
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's signature)
        """Quiet: the terminal shows the URL and errors, not every request."""
