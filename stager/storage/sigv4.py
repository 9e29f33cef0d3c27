"""AWS Signature Version 4 for S3 requests, header form, as botocore's ``S3SigV4Auth`` computes it.

stager signs its small-object PUTs itself (``fastput.py``) because botocore
spends about a millisecond of CPU on each request, and on two shared cores
that, not the network, bounds how fast thousands of small files go up. The
payload hash is the sha256 the dataset manifest already holds, so nothing is
hashed twice, and the endpoint checks the body against it.

S3 signs the path exactly as sent: it is not normalised or escaped a second
time, unlike other services. Not supported: presigned URLs (query-string
signatures), aws-chunked bodies and their per-chunk signatures, session tokens,
Signature Version 4A.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

__all__ = ["ALGORITHM", "EMPTY_SHA256", "Signer", "amz_date", "canonical_request", "quote_key"]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def amz_date(now: float | None = None) -> str:
    """``20240102T030405Z``: the ``x-amz-date`` of a request made at ``now`` (seconds since the epoch)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def quote_key(key: str) -> str:
    """An object key as it goes in the path (UTF-8, percent-escaped, ``/`` and ``~`` kept), as botocore sends it."""
    return quote(key, safe="/~")


def _trim(value: str) -> str:
    # SigV4's Trimall: no leading or trailing space, inner runs of spaces as one.
    return " ".join(value.split())


def canonical_request(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      payload_sha256: str) -> tuple[str, str]:
    """(the canonical request, the signed-headers list) for a request as it will be sent.

    ``path`` is the escaped path as sent; ``query`` holds decoded (name, value)
    pairs; ``headers`` maps lowercase names to values and holds exactly the
    headers to sign (``host`` included).
    """
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    names = sorted(headers)
    signed = ";".join(names)
    lines = "".join(f"{name}:{_trim(headers[name])}\n" for name in names)
    text = "\n".join([method, path, "&".join(f"{k}={v}" for k, v in pairs), lines, signed, payload_sha256])
    return text, signed


class Signer:
    """Signs requests for one key pair, region and service; the derived key is kept per day.

    Thread-safe: the only state is the day's key, and computing it twice is harmless.
    """

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self._access_key = access_key
        self._secret = ("AWS4" + secret_key).encode()
        self._region = region
        self._service = service
        self._day_key: tuple[str, bytes] = ("", b"")  # (yyyymmdd, signing key of that day)

    def __repr__(self) -> str:
        return f"Signer(region={self._region!r}, service={self._service!r})"  # never the keys

    def _signing_key(self, day: str) -> bytes:
        cached_day, key = self._day_key
        if cached_day == day:
            return key
        key = self._secret
        for part in (day, self._region, self._service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self._day_key = (day, key)
        return key

    def authorization(self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      payload_sha256: str, when: str) -> str:
        """The ``Authorization`` header of a request; ``when`` is its ``x-amz-date`` (which ``headers`` holds too).

        ``headers``: lowercase names to values, exactly the headers to sign, ``host``
        and ``x-amz-date`` and ``x-amz-content-sha256`` among them.
        """
        day = when[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        text, signed = canonical_request(method, path, query, headers, payload_sha256)
        to_sign = f"{ALGORITHM}\n{when}\n{scope}\n{hashlib.sha256(text.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{ALGORITHM} Credential={self._access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
