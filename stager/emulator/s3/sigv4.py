"""AWS Signature Version 4 verification for S3 requests.

Both forms boto3 produces: the ``Authorization`` header and presigned URLs
(``X-Amz-Signature`` in the query), plus the per-chunk signatures of
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`` bodies.

Not emulated: Signature Version 2, session tokens (``X-Amz-Security-Token`` is
signed like any parameter but not checked), the legacy ``Date`` header in place
of ``x-amz-date``, and the region of the credential scope (any region is
accepted, as one emulator endpoint serves every region).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import Message
from urllib.parse import quote, unquote, unquote_plus

from .errors import BucketError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES_S = 7 * 24 * 3600
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<headers>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*"
)
_DATE_FMT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Authenticated:
    """A request whose signature checked out."""

    access_key: str
    signing_key: bytes
    scope: str  # date/region/s3/aws4_request
    amz_date: str
    signature: str  # the seed signature that chunk signatures chain from
    payload_hash: str  # hex sha256, UNSIGNED-PAYLOAD or STREAMING-...
    presigned: bool


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs in order; '+' is a space, as S3 reads queries."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((quote(n, safe="-_.~"), quote(v, safe="-_.~")) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in encoded)


def canonical_headers(headers: Message, names: list[str]) -> str:
    lines = []
    for name in names:
        values = headers.get_all(name) or []
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def _parse_credential(value: str, amz_date: str) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise BucketError("AuthorizationHeaderMalformed", f"The credential {value!r} is malformed.")
    access_key, date, region, service, _ = parts
    if service != "s3":
        raise BucketError("AuthorizationHeaderMalformed", f"The credential scope names service {service!r}, not 's3'.")
    if date != amz_date[:8]:
        raise BucketError("AuthorizationHeaderMalformed", "The credential date is not the same as X-Amz-Date.")
    return access_key, date, region, service


def _parse_date(value: str | None) -> datetime:
    try:
        return datetime.strptime(value or "", _DATE_FMT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise BucketError(
            "AccessDenied", "AWS authentication requires a valid x-amz-date header in the form YYYYMMDDTHHMMSSZ."
        ) from None


def authenticate(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Message,
    secret_for: Callable[[str], str | None],
    *,
    now: datetime | None = None,
) -> Authenticated:
    """Verify the request's SigV4 signature; raise the S3 error a real endpoint would.

    ``secret_for(access_key)`` returns the key's secret, or None for an unknown key.
    """
    now = now or datetime.now(timezone.utc)
    pairs = parse_query(raw_query)
    query = dict(pairs)
    if "X-Amz-Algorithm" in query:
        return _presigned(method, raw_path, pairs, query, headers, secret_for, now)
    auth = headers.get("Authorization")
    if not auth:
        raise BucketError("AccessDenied", "Anonymous access is forbidden; sign requests with AWS Signature Version 4.")
    if not auth.startswith(ALGORITHM):
        raise BucketError("InvalidRequest", f"Unsupported authorization type; use {ALGORITHM} (Signature Version 4).")
    m = _AUTH_RE.fullmatch(auth.strip())
    if m is None:
        raise BucketError("AuthorizationHeaderMalformed", "The authorization header is malformed.")
    amz_date = headers.get("x-amz-date", "")
    when = _parse_date(amz_date)
    if abs(now - when) > MAX_SKEW:
        raise BucketError(
            "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
        )
    access_key, date, region, service = _parse_credential(m["cred"], amz_date)
    payload_hash = headers.get("x-amz-content-sha256")
    if not payload_hash:
        raise BucketError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    return _check(
        method, raw_path, pairs, headers, m["headers"].split(";"), m["sig"], amz_date,
        (access_key, date, region, service), payload_hash, secret_for, presigned=False,
    )


def _presigned(method, raw_path, pairs, query, headers, secret_for, now) -> Authenticated:
    try:
        if query["X-Amz-Algorithm"] != ALGORITHM:
            raise BucketError("AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}.")
        amz_date, expires = query["X-Amz-Date"], int(query["X-Amz-Expires"])
        credential, signed, signature = query["X-Amz-Credential"], query["X-Amz-SignedHeaders"], query["X-Amz-Signature"]
    except (KeyError, ValueError):
        raise BucketError(
            "AuthorizationQueryParametersError",
            "Query-string authentication requires X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, "
            "X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.",
        ) from None
    if not 1 <= expires <= MAX_EXPIRES_S:
        raise BucketError("AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds.")
    when = _parse_date(amz_date)
    if when - now > MAX_SKEW:
        raise BucketError("AccessDenied", "Request is not valid yet.")
    if now > when + timedelta(seconds=expires):
        raise BucketError("AccessDenied", "Request has expired.")
    scope = _parse_credential(credential, amz_date)
    unsigned = [(n, v) for n, v in pairs if n != "X-Amz-Signature"]
    payload_hash = query.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    return _check(
        method, raw_path, unsigned, headers, signed.split(";"), signature, amz_date, scope, payload_hash,
        secret_for, presigned=True,
    )


def _check(
    method, raw_path, pairs, headers, signed_headers, signature, amz_date, scope, payload_hash, secret_for, *, presigned
) -> Authenticated:
    access_key, date, region, service = scope
    secret = secret_for(access_key)
    if secret is None:
        raise BucketError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=access_key,
        )
    key = signing_key(secret, date, region, service)
    scope_text = f"{date}/{region}/{service}/aws4_request"
    tail = "\n".join([canonical_query(pairs), canonical_headers(headers, signed_headers), ";".join(signed_headers)])
    # S3 signs the path as sent (no normalisation); also accept the standard
    # single encoding of the decoded path, for clients that escape differently.
    attempts = []
    for path in dict.fromkeys([raw_path or "/", quote(unquote(raw_path or "/"), safe="/~")]):
        canonical = f"{method}\n{path}\n{tail}\n{payload_hash}"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope_text}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        if hmac.compare_digest(_hmac_hex(key, to_sign), signature):
            return Authenticated(access_key, key, scope_text, amz_date, signature, payload_hash, presigned)
        attempts.append((canonical, to_sign))
    canonical, to_sign = attempts[0]  # report the path as sent
    raise BucketError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        AWSAccessKeyId=access_key,
        StringToSign=to_sign,
        SignatureProvided=signature,
        CanonicalRequest=canonical,
    )


class ChunkSignatures:
    """Checks the chain of chunk signatures of a signed aws-chunked body."""

    def __init__(self, auth: Authenticated) -> None:
        self._auth = auth
        self._previous = auth.signature

    def _expect(self, kind: str, *hashes: str) -> str:
        a = self._auth
        return _hmac_hex(a.signing_key, "\n".join([f"{ALGORITHM}-{kind}", a.amz_date, a.scope, self._previous, *hashes]))

    def verify_chunk(self, signature: str, data_sha256: str) -> None:
        expected = self._expect("PAYLOAD", EMPTY_SHA256, data_sha256)
        if not hmac.compare_digest(expected, signature):
            raise BucketError("SignatureDoesNotMatch", "A chunk signature of the aws-chunked body does not match.")
        self._previous = signature

    def verify_trailer(self, signature: str, trailer: bytes) -> None:
        expected = self._expect("TRAILER", hashlib.sha256(trailer).hexdigest())
        if not hmac.compare_digest(expected, signature):
            raise BucketError("SignatureDoesNotMatch", "The trailer signature of the aws-chunked body does not match.")
