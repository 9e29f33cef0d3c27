"""A small threaded HTTP/1.1 server that hands each request to an application.

The standard library's server is enough here: linode_api4 keeps one connection
alive per client, and keep-alive is what makes hundreds of requests a second
possible without a framework.

Every answer's ``Date`` header reads the application's clock when it has one (a
``now()`` method, as ``ApiApplication`` has), not the machine's: a client that
takes the provider's time from ``Date`` (stager's cost so far) then sees the
emulator's clock jump when a test advances it, as billing does.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body_stream: BinaryIO
    content_length: int
    _body: bytes | None = None

    def body(self) -> bytes:
        if self._body is None:
            self._body = self.body_stream.read(self.content_length) if self.content_length else b""
        return self._body

    def json(self) -> dict:
        """The JSON body; an empty body is an empty object, as Linode treats it."""
        raw = self.body()
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            from stager.emulator.core.errors import BadRequest

            raise BadRequest(f"Invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            from stager.emulator.core.errors import BadRequest

            raise BadRequest("Request body must be a JSON object")
        return value


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload, headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, data, {"Content-Type": "application/json", **(headers or {})})


Application = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle's algorithm on, the second
    # waits for the client's delayed ACK and every request takes ~40 ms.
    disable_nagle_algorithm = True
    server_version = "stager-emulator"
    sys_version = ""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header: the application's clock when it has one (see the module docstring)."""
        now = getattr(self.server.application, "now", None)  # type: ignore[attr-defined]
        if timestamp is not None or now is None:
            return super().date_time_string(timestamp)
        moment = now()
        if moment.tzinfo is None:  # the emulator's clock is naive UTC
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return email.utils.format_datetime(moment.astimezone(dt.timezone.utc), usegmt=True)

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        request = Request(self.command, split.path, query, headers, self.rfile, length)
        response = self.server.application(request)  # type: ignore[attr-defined]
        if request._body is None and length:
            # Drain what the handler did not read, or the next request on this
            # keep-alive connection would start in the middle of this body.
            request.body()
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        body = response.body
        chunked = not isinstance(body, (bytes, bytearray))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(body)
            return
        for piece in body:
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch

    def log_message(self, format, *args) -> None:
        """Quiet: the emulator keeps its own request log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, application: Application) -> None:
        self.application = application
        super().__init__(address, _Handler)


class HttpServer:
    """``start() / url / stop()`` around one application, as moto's ThreadedMotoServer."""

    def __init__(self, application: Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self._application = application
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = _Server(self._address, self._application)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="stager-emulator-http", daemon=True)
        self._thread.start()

    @property
    def host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.host_and_port
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
