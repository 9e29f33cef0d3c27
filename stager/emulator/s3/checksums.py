"""Payload digests: compute several at once while streaming, check them at the end.

S3 clients announce a body's digest in different places and encodings
(``Content-MD5`` base64, ``x-amz-content-sha256`` hex, ``x-amz-checksum-*``
base64 in a header or an aws-chunked trailer). They all reduce to "algorithm,
expected raw digest, error code on mismatch", which is what ``Expect`` holds.

Verified algorithms: md5, sha1, sha256, crc32. ``crc32c`` and ``crc64nvme``
need native code the standard library lacks, so those checksums are accepted
without being verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BucketError

VERIFIABLE = ("md5", "sha1", "sha256", "crc32")
# x-amz-checksum-<name> algorithms S3 defines; the ones not in VERIFIABLE pass unchecked.
FLEXIBLE = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


@dataclass(frozen=True)
class Expect:
    """The digest a client announced for a body."""

    algorithm: str  # one of VERIFIABLE
    digest: bytes  # raw digest bytes
    code: str  # S3 error code when the body does not match
    source: str  # where it came from, for the error message


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class Hasher:
    """Feeds every chunk to each requested algorithm."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        self._hashes = {}
        for name in dict.fromkeys(algorithms):
            self._hashes[name] = _Crc32() if name == "crc32" else hashlib.new(name)

    def update(self, data: bytes) -> None:
        for h in self._hashes.values():
            h.update(data)

    def digest(self, algorithm: str) -> bytes:
        return self._hashes[algorithm].digest()

    def verify(self, expectations: Iterable[Expect]) -> None:
        for e in expectations:
            if self.digest(e.algorithm) != e.digest:
                raise BucketError(e.code, f"The {e.source} you specified did not match the calculated value.")


def hasher_for(expectations: Iterable[Expect], *always: str) -> Hasher:
    return Hasher([*always, *(e.algorithm for e in expectations)])


def decode_b64(value: str, *, code: str, source: str, size: int) -> bytes:
    """Base64 digest from a header; malformed -> ``code`` (InvalidDigest / InvalidRequest)."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise BucketError(code, f"The {source} you specified is not valid.")
    return raw


DIGEST_SIZE = {"md5": 16, "sha1": 20, "sha256": 32, "crc32": 4}


def flexible_expectation(algorithm: str, value: str, source: str) -> Expect | None:
    """Expectation for an ``x-amz-checksum-<algorithm>`` value, None if unverifiable."""
    if algorithm not in VERIFIABLE:
        return None
    raw = decode_b64(value, code="InvalidRequest", source=source, size=DIGEST_SIZE[algorithm])
    return Expect(algorithm, raw, "BadDigest", source)
