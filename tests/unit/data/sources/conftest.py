"""A loopback HTTP file server for source downloads: Range support, dropped connections, counters."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Served:
    path: str
    range: str | None  # the Range header as sent, None without one
    status: int
    nbytes: int  # body bytes written before the response ended or was cut


@dataclass
class FileServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1.

    ``drops``: how many of the next responses are cut after ``drop_after`` body
    bytes (the full length announced, then the connection closed).
    ``honour_range``: False answers every request with the whole file (200).
    """

    files: dict[str, bytes] = field(default_factory=dict)
    drops: int = 0
    drop_after: int = 0
    honour_range: bool = True
    requests: list[Served] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def add(self, path: str, body: bytes) -> tuple[str, str]:
        """Serve ``body`` at ``path``; return (url, sha256)."""
        self.files[path] = body
        return self.url(path), hashlib.sha256(body).hexdigest()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def bytes_served(self) -> int:
        return sum(r.nbytes for r in self.requests)


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            asked = self.headers.get("Range")
            body = state.files.get(self.path)
            if body is None:
                state.requests.append(Served(self.path, asked, 404, 0))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", asked or "")
            if match and state.honour_range:
                start = int(match.group(1))
                if start >= len(body):
                    state.requests.append(Served(self.path, asked, 416, 0))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes" if state.honour_range else "none")
            self.end_headers()
            cut = state.drops > 0
            if cut:
                state.drops -= 1
                payload = payload[:state.drop_after]
            # recorded before writing: the client may be done before this thread runs again
            state.requests.append(Served(self.path, asked, 206 if start else 200, len(payload)))
            self.wfile.write(payload)
            self.wfile.flush()
            if cut:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


@pytest.fixture
def file_server():
    state = FileServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="file-server", daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
