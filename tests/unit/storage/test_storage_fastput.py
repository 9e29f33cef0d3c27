"""PutSender against a scripted HTTP server: retries, backoff, kept-alive connections, and errors as botocore's."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from stager.errors import JobFailed, UsageError
from stager.storage import fastput
from stager.storage.errors import s3_call
from stager.storage.fastput import PutSender, PutTarget

SECRET = "secret-of-the-test-" + "q" * 21
BODY = b"sixty-four kibibytes, give or take" * 10
SHA256 = hashlib.sha256(BODY).hexdigest()


def error_document(code: str, message: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            "<RequestId>1</RequestId></Error>").encode()


class _Scripted(BaseHTTPRequestHandler):
    """Answers each PUT with the next step of the server's script (200 once it runs out)."""

    protocol_version = "HTTP/1.1"
    server: _ScriptedServer

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        step = self.server.next_step(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                     self.client_address)
        if step[0] == "drop":  # read the request, answer nothing, close
            self.close_connection = True
            return
        if step[0] == "hang":
            time.sleep(step[1])
            self.close_connection = True
            return
        _, status, payload = step
        self.send_response(status)
        self.send_header("ETag", f'"etag-{len(self.server.seen)}"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if step[0] == "answer, then close quietly":  # as an idle timeout does, without saying so
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        pass


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.script: list[tuple] = []
        self.seen: list[tuple[str, dict, bytes]] = []  # (path, headers, body) of every request received
        self.peers: set[tuple] = set()  # client addresses: one per connection
        self._lock = threading.Lock()

    def next_step(self, path: str, headers: dict, body: bytes, peer: tuple) -> tuple:
        with self._lock:
            self.seen.append((path, headers, body))
            self.peers.add(peer)
            return self.script.pop(0) if self.script else ("answer", 200, b"")


@pytest.fixture
def server():
    httpd = _ScriptedServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def sender_for(endpoint: str, **kwargs) -> PutSender:
    target = PutTarget(endpoint, "us-east-1", "AKTESTKEY", SECRET, **{"attempts": 6, **kwargs})
    sender = PutSender(target)
    sender.backoff_scale = 0.0
    return sender


def endpoint_of(server: _ScriptedServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def uploading(fn):
    """``fn()`` as the uploader calls it: botocore's exceptions worded by ``s3_call``."""
    return s3_call(fn, action="uploading", where="s3://b/k", endpoint="http://s3", bucket="b")


def test_a_put_sends_the_body_with_its_sha256_and_returns_the_etag(server):
    sender = sender_for(endpoint_of(server))
    answered = []
    sender.on_answer.append(lambda request, status: answered.append((request.operation, status)))

    etag = sender.put("bucket", "dir/a b.bin", BODY, SHA256, {"sha256": SHA256})

    assert etag == '"etag-1"' and answered == [("PutObject", 200)]
    path, headers, body = server.seen[0]
    assert path == "/bucket/dir/a%20b.bin" and body == BODY
    assert headers["x-amz-meta-sha256"] == headers["x-amz-content-sha256"] == SHA256
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKTESTKEY/")
    sender.close()


def test_connections_are_kept_alive_between_puts(server):
    sender = sender_for(endpoint_of(server))
    for i in range(5):
        sender.put("bucket", f"k{i}", BODY, SHA256)
    assert len(server.seen) == 5 and len(server.peers) == 1
    sender.close()


def test_throttling_and_server_errors_are_retried_until_they_pass(server):
    server.script = [("answer", 503, error_document("SlowDown", "Please reduce your request rate.")),
                     ("answer", 500, error_document("InternalError")), ("answer", 429, b""),
                     ("answer", 400, error_document("RequestTimeout")), ("answer", 200, b"")]
    sender = sender_for(endpoint_of(server))
    sent, answered = [], []
    sender.on_send.append(sent.append)
    sender.on_answer.append(lambda request, status: answered.append(status))

    assert sender.put("bucket", "key", BODY, SHA256) == '"etag-5"'
    assert len(sent) == 5 and answered == [200]


def test_backoff_is_botocores_standard_jittered_exponential(server, monkeypatch):
    delays = []
    monkeypatch.setattr(fastput.random, "random", lambda: 1.0)
    monkeypatch.setattr(fastput.time, "sleep", delays.append)
    server.script = [("answer", 503, error_document("SlowDown"))] * 3 + [("answer", 502, b"")] * 2
    sender = sender_for(endpoint_of(server))
    sender.backoff_scale = 1.0

    sender.put("bucket", "key", BODY, SHA256)

    # Throttled: 1 s base, doubling; other transient failures: 50 ms base.
    assert delays == [1.0, 2.0, 4.0, 0.05 * 8, 0.05 * 16]


def test_retries_stop_after_the_clients_attempts_and_the_error_is_botocores(server):
    server.script = [("answer", 500, error_document("InternalError", "We encountered an internal error."))] * 3
    sender = sender_for(endpoint_of(server), attempts=3)

    with pytest.raises(ClientError) as caught:
        sender.put("bucket", "key", BODY, SHA256)
    assert caught.value.response["Error"]["Code"] == "InternalError" and len(server.seen) == 3
    server.script = [("answer", 503, error_document("SlowDown"))] * 3
    with pytest.raises(JobFailed, match="answered SlowDown after retries"):
        uploading(lambda: sender.put("bucket", "key", BODY, SHA256))


@pytest.mark.parametrize("status, code, kind, words", [
    (403, "AccessDenied", UsageError, "access denied to s3://b/k"),
    (403, "SignatureDoesNotMatch", UsageError, "refused the Object Storage keys (SignatureDoesNotMatch)"),
    (403, "InvalidAccessKeyId", UsageError, "refused the Object Storage keys (InvalidAccessKeyId)"),
    (404, "NoSuchBucket", UsageError, "bucket b does not exist at http://s3"),
    (400, "XAmzContentSHA256Mismatch", JobFailed, "uploading failed: XAmzContentSHA256Mismatch: it differs"),
    (400, "EntityTooLarge", JobFailed, "uploading failed: EntityTooLarge"),
    (403, "", UsageError, "access denied"),  # no error document at all
])
def test_refusals_are_not_retried_and_read_as_botocores_would(server, status, code, kind, words):
    server.script = [("answer", status, error_document(code, "it differs") if code else b"")]
    sender = sender_for(endpoint_of(server))

    with pytest.raises(kind) as caught:
        uploading(lambda: sender.put("bucket", "key", BODY, SHA256))

    assert words in str(caught.value) and "\n" not in str(caught.value) and len(server.seen) == 1
    assert SECRET not in str(caught.value) and caught.value.__cause__ is None


def test_a_connection_dropped_without_an_answer_is_retried(server):
    server.script = [("drop",), ("drop",), ("answer", 200, b"")]
    sender = sender_for(endpoint_of(server))
    assert sender.put("bucket", "key", BODY, SHA256) == '"etag-3"'


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_spending_a_try(server):
    server.script = [("answer, then close quietly", 200, b"")]
    sender = sender_for(endpoint_of(server), attempts=1)
    sender.put("bucket", "one", BODY, SHA256)
    time.sleep(0.1)  # the server has closed its end by now

    assert sender.put("bucket", "two", BODY, SHA256) == '"etag-2"'
    assert [path for path, _, _ in server.seen] == ["/bucket/one", "/bucket/two"] and len(server.peers) == 2


def test_an_endpoint_that_does_not_answer_in_time_is_a_job_failure(server):
    server.script = [("hang", 2.0)]
    sender = sender_for(endpoint_of(server), attempts=1, read_timeout=0.3)
    with pytest.raises(JobFailed, match=r"cannot reach the S3 endpoint http://s3 \(ReadTimeoutError\)"):
        uploading(lambda: sender.put("bucket", "key", BODY, SHA256))


def test_an_endpoint_nobody_listens_on_is_a_job_failure_after_retries():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = sender_for(f"http://127.0.0.1:{port}", attempts=2)
    sent = []
    sender.on_send.append(sent.append)
    refused = r"cannot reach the S3 endpoint http://s3 \(EndpointConnectionError\)"
    with pytest.raises(JobFailed, match=refused) as caught:
        uploading(lambda: sender.put("bucket", "key", BODY, SHA256))
    assert len(sent) == 2 and SECRET not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "http://"])
def test_only_http_and_https_endpoints_are_taken(url):
    with pytest.raises(ValueError):
        PutSender(PutTarget(url, "us-east-1", "AK", SECRET))
