"""A from-the-documentation SigV4 signer for hand-made requests (signed aws-chunked bodies,
tampered payloads) that boto3 never sends. Independent of stager.emulator.s3.sigv4 on purpose."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

EMPTY = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Signer:
    def __init__(self, access_key: str, secret: str, region: str = "us-east-1") -> None:
        self.access_key = access_key
        now = datetime.now(timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        self.scope = f"{now:%Y%m%d}/{region}/s3/aws4_request"
        key = _hmac(f"AWS4{secret}".encode(), f"{now:%Y%m%d}")
        for part in (region, "s3", "aws4_request"):
            key = _hmac(key, part)
        self.key = key

    def headers(self, method: str, path: str, host: str, payload_hash: str, extra: dict[str, str]) -> dict[str, str]:
        """Signed request headers; ``self.seed`` is the signature chunk signatures chain from."""
        headers = {k.lower(): v for k, v in extra.items()}
        headers.update({"host": host, "x-amz-date": self.amz_date, "x-amz-content-sha256": payload_hash})
        names = sorted(headers)
        canonical = "\n".join(
            [method, path, "", "".join(f"{n}:{headers[n].strip()}\n" for n in names), ";".join(names), payload_hash]
        )
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope, hashlib.sha256(canonical.encode()).hexdigest()])
        self.seed = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{self.scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={self.seed}"
        )
        return headers

    def chunked(self, chunks: list[bytes], trailer: bytes | None = None) -> bytes:
        """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] body for ``chunks`` (+ an empty final chunk)."""
        previous, out = self.seed, []
        for data in [*chunks, b""]:
            to_sign = "\n".join(
                ["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, previous, EMPTY, hashlib.sha256(data).hexdigest()]
            )
            previous = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
            out.append(b"%x;chunk-signature=%s\r\n" % (len(data), previous.encode()))
            if data:
                out.append(data + b"\r\n")
        if trailer is not None:
            to_sign = "\n".join(
                ["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous, hashlib.sha256(trailer + b"\n").hexdigest()]
            )
            signature = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
            out.append(trailer + b"\r\nx-amz-trailer-signature:" + signature.encode() + b"\r\n")
        out.append(b"\r\n")
        return b"".join(out)
