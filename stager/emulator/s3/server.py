"""S3Server: the emulator's S3-compatible HTTP endpoint.

Standard library only: ``ThreadingHTTPServer`` speaking HTTP/1.1 with
keep-alive (boto3 pools connections), optional TLS (``ssl_context``) so a
default boto3 client behaves as it does against ``https://*.linodeobjects.com``
(over HTTPS it sends aws-chunked uploads with CRC32 trailers; over HTTP it
sends the CRC32 as a header). Path-style addressing only.

``Expect: 100-continue`` (botocore sends it for uploads) is answered only when
a handler starts reading the body, so an upload refused by authentication or
authorization is answered before the client sends a byte of it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

from .bodies import HttpChunkedReader, LimitedReader
from .errors import BucketError
from .fsutil import CHUNK
from .handlers import S3App
from .messages import Request, Response
from .policy import Grant
from .store import BucketStore
from .xmlio import error_document

logger = logging.getLogger(__name__)

# An unread request body up to this size is read and dropped to keep the
# connection; a larger one is cheaper to cut off by closing the connection.
DRAIN_LIMIT = 16 * 1024 * 1024
IDLE_TIMEOUT_S = 300


def _latin1(value: str) -> str:
    """Header values go out as latin-1; anything else is sent as its UTF-8 bytes."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stager-s3"
    sys_version = ""
    disable_nagle_algorithm = True  # small responses after header writes must not wait for ACKs
    timeout = IDLE_TIMEOUT_S
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, in the connection's thread, not in accept()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def parse_request(self) -> bool:
        self._expect_pending = False
        self._body: LimitedReader | HttpChunkedReader | None = None
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        self._expect_pending = True  # answered by _open_body, once a handler wants the body
        return True

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _framing(self) -> LimitedReader | HttpChunkedReader:
        encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if encoding:
            if encoding != "chunked":
                raise BucketError("NotImplemented", "Only chunked Transfer-Encoding is implemented.")
            return HttpChunkedReader(self.rfile)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise BucketError("InvalidArgument", "Content-Length must be a non-negative integer.")
        return LimitedReader(self.rfile, length)

    def _open_body(self) -> BinaryIO:
        if self._expect_pending:
            self._expect_pending = False
            self.send_response_only(100)
            self.end_headers()
        return self._body

    def _dispatch(self) -> None:
        target = self.path
        if not target.startswith("/"):  # absolute-form request target
            from urllib.parse import urlsplit

            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        raw_path, _, raw_query = target.partition("?")
        try:
            self._body = self._framing()
        except BucketError as e:
            self.close_connection = True
            body = error_document(e.code, e.message, raw_path, "0", {})
            self._send(Response(e.status, [("Content-Type", "application/xml")], body))
            return
        request = Request(self.command, raw_path, raw_query, self.headers, self._open_body)
        response = self.server.app.handle(request)
        self._settle_body()
        self._send(response)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _dispatch

    def _settle_body(self) -> None:
        """Leave the connection at the start of the next request, or mark it for closing."""
        body = self._body
        if body.done:
            return
        if self._expect_pending:
            self.close_connection = True  # the client is still waiting to send; it never will
            return
        try:
            drained = 0
            while not body.done and drained <= DRAIN_LIMIT:
                drained += len(body.read(CHUNK))
        except (BucketError, OSError):
            pass
        if not body.done:
            self.close_connection = True

    def _send(self, response: Response) -> None:
        stream = response.stream
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, _latin1(value))
            bodyless = response.status in (204, 304)
            if not bodyless:
                self.send_header("Content-Length", str(response.content_length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD" or bodyless:
                return
            if response.body:
                self.wfile.write(response.body)
            remaining = response.length if stream is not None else 0
            while remaining > 0:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    self.close_connection = True  # cannot honour Content-Length: end the connection
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True  # the client went away mid-response
        finally:
            if stream is not None:
                stream.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: S3App, ssl_context: ssl.SSLContext | None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # Handshake later, in the handler thread, so a slow client cannot stall accept().
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        """End kept-alive connections, so pooled clients cannot reach a stopped server."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler

    def handle_error(self, request, client_address) -> None:
        # Called from socketserver's except clause: clients dropping connections is normal.
        logger.debug("S3 emulator connection from %s failed: %r", client_address, sys.exc_info()[1])


class S3Server:
    """The S3 endpoint over a ``BucketStore``; ``credentials(access_key)`` gives a key's Grant or None.

    ``reject_streaming_checksums`` (default, as Linode does) answers boto3 >= 1.36's
    default flexible checksums with 400 XAmzContentSHA256Mismatch and the client
    setting that fixes it; when False, aws-chunked bodies are decoded and verified.
    """

    def __init__(
        self,
        store: BucketStore,
        credentials: Callable[[str], Grant | None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        reject_streaming_checksums: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self._address = (host, port)
        self._ssl_context = ssl_context
        self._app = S3App(
            store,
            credentials,
            region=region,
            reject_streaming_checksums=reject_streaming_checksums,
            endpoint=lambda: self.endpoint,
        )
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _HTTPServer(self._address, self._app, self._ssl_context)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="stager-s3", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        # shutdown() waits for the accept loop's next wake-up; knock on the listening
        # socket so it wakes now instead of after poll_interval.
        stopper = threading.Thread(target=httpd.shutdown, daemon=True)
        stopper.start()
        while stopper.is_alive():
            try:
                socket.create_connection(httpd.server_address[:2], timeout=0.5).close()
            except OSError:
                pass
            stopper.join(0.01)
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with an ssl_context)."""
        if self._httpd is None:
            raise RuntimeError("S3Server is not started")
        host, port = self._httpd.server_address[:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in str(host):
            host = f"[{host}]"
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"
