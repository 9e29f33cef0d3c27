"""PutObject for small bodies without botocore: signed here, sent on kept-alive ``http.client`` connections.

botocore spends about a millisecond of client CPU on each request (endpoint
rules, event hooks, user-agent assembly, signing, response parsing), most of
it under the GIL; for thousands of small files that, not the network, bounds
a sync on a few shared cores. A small PutObject needs little of it: one
signed request (``sigv4.py``), one status line, one ETag.

What goes on the wire is what botocore, configured by ``make_client``, sends:
path-style ``PUT /bucket/key`` to the client's endpoint, the same signed
headers (``host``, ``x-amz-content-sha256``, ``x-amz-date``, ``x-amz-meta-*``),
no ``Expect: 100-continue``, and no ``x-amz-checksum-*``,
``x-amz-sdk-checksum-algorithm`` or aws-chunked body, which Linode rejects.
``x-amz-content-sha256`` is the body's sha256 (the caller's, from the dataset
manifest), so the endpoint verifies the body over HTTP and HTTPS alike.

Failures come out as botocore's exceptions (``ClientError`` with the S3 error
code, ``EndpointConnectionError``, ``ReadTimeoutError``...) so that
``errors.s3_call`` words them as it does every other request. Retries follow
botocore's "standard" mode: connection errors, 5xx but 501, 429 and the
throttling and transient error codes, with jittered exponential backoff
(1 s base when throttled, 50 ms otherwise, at most 20 s). A kept-alive
connection the server closed while idle is replaced without counting a try.

Not supported (``make_client`` then leaves PUTs to botocore): AWS's own
endpoints (no ``endpoint_url``), proxies, session tokens. Not done: botocore's
retry quota, region redirects, ``x-amz-retry-after``.
"""

from __future__ import annotations

import http.client
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from stager.storage.sigv4 import Signer, amz_date, quote_key

__all__ = ["PutSender", "PutTarget", "SentRequest"]

_TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
                              "InternalError"})
_THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                               "TooManyRequestsException", "ProvisionedThroughputExceededException",
                               "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
                               "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
                               "EC2ThrottledException"})
_MAX_BACKOFF_S = 20.0
# What a kept-alive connection the server already closed raises on its next request.
_STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)


@dataclass(frozen=True)
class PutTarget:
    """Where and how to send; ``make_client`` fills it from the same settings as the botocore client."""

    endpoint_url: str  # http(s)://host[:port][/path]; buckets go under it, path-style
    region: str  # the signing region
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    connect_timeout: float = 10.0  # seconds to connect (and finish the TLS handshake)
    read_timeout: float = 120.0  # seconds any one read or write may block
    attempts: int = 6  # tries per request, the first included
    ca_bundle: str | None = None  # a CA file or folder to verify TLS against; None: the system's
    user_agent: str = "stager"


@dataclass(frozen=True)
class SentRequest:
    """One request as it went on the wire, for whoever watches (``PutSender.on_send``)."""

    operation: str  # "PutObject"
    method: str
    url: str
    headers: dict[str, str]  # as sent, Authorization included


class PutSender:
    """Sends small PutObject requests on a pool of kept-alive connections; thread-safe.

    ``on_send`` callbacks get every attempt as it goes on the wire (retries
    included, as botocore's ``before-send`` event); ``on_answer`` callbacks get
    each request's final answer (request, HTTP status), as ``after-call``. Both
    run in the sending thread; an exception from one propagates to the caller.
    """

    def __init__(self, target: PutTarget, *, max_idle: int = 32) -> None:
        """A sender for ``target``, keeping up to ``max_idle`` idle connections; none is opened yet.

        Raises:
            ValueError: the endpoint URL is not http:// or https:// with a host.
        """
        parts = urlsplit(target.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {target.endpoint_url!r}")
        self.target = target
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        name = f"[{self._host}]" if ":" in self._host else self._host
        default_port = parts.port is None or parts.port == (443 if self._https else 80)
        self._host_header = name if default_port else f"{name}:{self._port}"  # as botocore signs it
        self._origin = f"{parts.scheme}://{self._host_header}"
        self._base_path = parts.path.rstrip("/")
        self._signer = Signer(target.access_key, target.secret_key, target.region)
        self._tls: ssl.SSLContext | None = None
        self._idle: list[http.client.HTTPConnection] = []
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self.backoff_scale = 1.0  # multiplies every backoff delay; 0 retries at once
        self.on_send: list[Callable[[SentRequest], None]] = []
        self.on_answer: list[Callable[[SentRequest, int], None]] = []

    def __repr__(self) -> str:
        return f"PutSender({self.target.endpoint_url!r}, region={self.target.region!r})"

    # -- the request ---------------------------------------------------------------------

    def put(self, bucket: str, key: str, body: bytes, sha256: str, metadata: dict[str, str] | None = None) -> str:
        """Store ``body`` (whose hex sha256 is ``sha256``) as ``key``; return the ETag header as answered.

        ``metadata`` values go out as ``x-amz-meta-<name>`` and must be ASCII.

        Raises:
            botocore.exceptions.ClientError: the endpoint answered an error (after retries
                when it may pass); its Code and Message are S3's.
            botocore.exceptions.EndpointConnectionError / ConnectTimeoutError /
                ReadTimeoutError / ConnectionClosedError / SSLError: no answer, after retries.
        """
        path = f"{self._base_path}/{bucket}/{quote_key(key)}"
        extra = {f"x-amz-meta-{name.lower()}": value for name, value in (metadata or {}).items()}
        tries = 0
        while True:
            request = self._signed(path, body, sha256, extra)
            for hook in self.on_send:
                hook(request)
            conn, reused = None, False
            try:
                conn, reused = self._take()
                status, etag, data = self._exchange(conn, path, request.headers, body)
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                if reused and isinstance(exc, _STALE):
                    continue  # closed by the server while idle: not the request's fault
                tries += 1
                if tries >= self.target.attempts or not _worth_retrying(exc):
                    raise _connection_error(exc, self.target.endpoint_url, connecting=conn is None) from None
                self._pause(tries, throttled=False)
                continue
            except BaseException:  # Ctrl-C mid-request: the connection is in no state to reuse
                if conn is not None:
                    conn.close()
                raise
            if 200 <= status < 300:
                self._answered(request, status)
                return etag
            code, message = _error_fields(data, status)
            tries += 1
            throttled = status == 429 or code in _THROTTLING_CODES
            transient = (status >= 500 and status != 501) or code in _TRANSIENT_CODES
            if (throttled or transient) and tries < self.target.attempts:
                self._pause(tries, throttled=throttled)
                continue
            self._answered(request, status)
            raise _client_error(code, message, status)

    def _signed(self, path: str, body: bytes, sha256: str, extra: dict[str, str]) -> SentRequest:
        when = amz_date()
        signed = {"host": self._host_header, "x-amz-content-sha256": sha256, "x-amz-date": when, **extra}
        headers = dict(signed)
        headers["authorization"] = self._signer.authorization("PUT", path, [], signed, sha256, when)
        headers["content-length"] = str(len(body))
        headers["user-agent"] = self.target.user_agent
        return SentRequest("PutObject", "PUT", self._origin + path, headers)

    def _exchange(self, conn: http.client.HTTPConnection, path: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, str, bytes]:
        conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        try:
            conn.endheaders(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # an endpoint may refuse before taking the whole body, then close: its answer says why
        response = conn.getresponse()  # raises when there is none
        data = response.read()  # all of it, or the connection cannot carry the next request
        etag = response.getheader("ETag") or ""
        if response.will_close:
            conn.close()
        else:
            self._give(conn)
        return response.status, etag, data

    def _answered(self, request: SentRequest, status: int) -> None:
        for hook in self.on_answer:
            hook(request, status)

    def _pause(self, tries: int, *, throttled: bool) -> None:
        base = 1.0 if throttled else 0.05
        time.sleep(self.backoff_scale * random.random() * min(base * 2 ** (tries - 1), _MAX_BACKOFF_S))

    # -- connections -----------------------------------------------------------------------

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (True: it served requests before) or a new one, connected."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        target = self.target
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=target.connect_timeout, context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=target.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(target.read_timeout)
        except BaseException:
            conn.close()
            raise
        return conn, False

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import os

            bundle = self.target.ca_bundle
            folder = bundle is not None and os.path.isdir(bundle)
            self._tls = ssl.create_default_context(cafile=None if folder else bundle,
                                                   capath=bundle if folder else None)
        return self._tls

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends, or stay for the next)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _worth_retrying(exc: BaseException) -> bool:
    # A certificate that does not verify will not verify on the next try either.
    return not isinstance(exc, ssl.SSLCertVerificationError)


def _error_fields(data: bytes, status: int) -> tuple[str, str]:
    """S3's error Code and Message from an error document; the status as the code when there is none."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return str(status), ""
    fields = {child.tag.rpartition("}")[2]: (child.text or "") for child in root}
    return fields.get("Code") or str(status), fields.get("Message", "")


def _client_error(code: str, message: str, status: int):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def _connection_error(exc: BaseException, endpoint_url: str, *, connecting: bool):
    """The botocore exception botocore raises for this failure (its message names no request detail)."""
    from botocore import exceptions as bx

    if isinstance(exc, ssl.SSLError):
        return bx.SSLError(endpoint_url=endpoint_url, error=type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return (bx.ConnectTimeoutError if connecting else bx.ReadTimeoutError)(endpoint_url=endpoint_url)
    if connecting:
        return bx.EndpointConnectionError(endpoint_url=endpoint_url)
    return bx.ConnectionClosedError(endpoint_url=endpoint_url)
