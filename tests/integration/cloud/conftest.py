"""Fixtures for the cloud layer against the session's emulator: a LinodeCloud, specs, a lossy proxy."""

from __future__ import annotations

import http.client
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from stager.cloud import Backoff, InstanceSpec, LinodeCloud, resource_label, stager_tags

QUICK = Backoff(0.02, 0.2)


@pytest.fixture
def cloud(emulator):
    return LinodeCloud(emulator.client(), poll=QUICK)


@pytest.fixture
def cloud_for():
    """``cloud_for(client)`` -> a LinodeCloud on that client, polling quickly."""
    return lambda client: LinodeCloud(client, poll=QUICK)


@pytest.fixture
def make_spec(ssh_key):
    """``make_spec(run="r1", role="train", **changes)`` -> an InstanceSpec for a nanode in us-east."""
    _, public_line = ssh_key

    def make(run: str = "r1", role: str = "train", **changes) -> InstanceSpec:
        values = {"label": resource_label(run, role), "plan": "g6-nanode-1", "region": "us-east",
                  "image": "linode/ubuntu24.04", "authorized_keys": (public_line,),
                  "tags": stager_tags(run, timedelta(hours=1))}
        values.update(changes)
        return InstanceSpec(**values)

    return make


class LossyProxy:
    """A loopback HTTP proxy in front of the emulator that loses answers on purpose.

    The first ``count`` requests matching ``method`` and ``path`` reach the emulator
    (which acts on them), but the client gets ``status`` instead of the answer, as
    when a gateway times out after the server did the work.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.rules: list[dict] = []
        self.forwarded: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
                connection.close()
                proxy.forwarded.append((self.command, self.path))
                lost = proxy._take(self.command, self.path)
                if lost is not None:
                    payload = b'{"errors": [{"reason": "Bad Gateway"}]}'
                    status, reply_headers = lost, {"Content-Type": "application/json"}
                else:
                    status = answer.status
                    reply_headers = {k: v for k, v in answer.getheaders()
                                     if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                self.send_response(status)
                for key, value in reply_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="lossy-proxy",
                                       daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4"

    def lose_answers(self, count: int, status: int, *, method: str, path: str) -> None:
        self.rules.append({"count": count, "status": status, "method": method, "path": path})

    def _take(self, method: str, path: str) -> int | None:
        for rule in self.rules:
            if rule["count"] > 0 and rule["method"] == method and urlsplit(path).path == rule["path"]:
                rule["count"] -= 1
                return rule["status"]
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def lossy_proxy(emulator):
    proxy = LossyProxy(emulator.base_url)
    yield proxy
    proxy.close()
