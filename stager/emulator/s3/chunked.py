"""Decoding ``Content-Encoding: aws-chunked`` bodies.

Used only when the server runs with ``reject_streaming_checksums=False``.
Format (inside the HTTP framing)::

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer name>:<value>\\r\\n ...]\\r\\n

Signed variants (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) have their
chunk and trailer signatures checked; ``x-amz-checksum-*`` trailers are checked
against the decoded data where the algorithm is verifiable (see checksums.py),
and the decoded size against ``x-amz-decoded-content-length``. Every check
fails the read, so the store never commits a body that did not verify.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from .bodies import read_line
from .checksums import VERIFIABLE, Hasher, flexible_expectation
from .errors import BucketError
from .sigv4 import ChunkSignatures

CHECKSUM_PREFIX = "x-amz-checksum-"
SIGNATURE_TRAILER = "x-amz-trailer-signature"


class AwsChunkedReader:
    def __init__(
        self,
        raw: BinaryIO,
        *,
        signatures: ChunkSignatures | None = None,
        signed_trailer: bool = False,
        trailers: list[str] = (),
        decoded_length: int | None = None,
    ) -> None:
        self._raw = raw
        self._signatures = signatures
        self._signed_trailer = signed_trailer
        self._trailers = [t.strip().lower() for t in trailers if t.strip()]
        self._decoded_length = decoded_length
        algorithms = [t.removeprefix(CHECKSUM_PREFIX) for t in self._trailers if t.startswith(CHECKSUM_PREFIX)]
        self._hasher = Hasher(a for a in algorithms if a in VERIFIABLE)
        self._left = 0
        self._signature: str | None = None
        self._chunk_sha = None
        self._total = 0
        self.done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(1024 * 1024), b""))
        if self._left == 0 and not self.done:
            self._start_chunk()
        if self.done or n == 0:
            return b""
        data = self._raw.read(min(n, self._left))
        if not data:
            raise BucketError("IncompleteBody", "The aws-chunked body ended inside a chunk.")
        self._left -= len(data)
        self._total += len(data)
        self._hasher.update(data)
        if self._chunk_sha is not None:
            self._chunk_sha.update(data)
        if self._left == 0:
            if read_line(self._raw) != b"":
                raise BucketError("IncompleteBody", "An aws-chunked chunk is longer than its declared size.")
            if self._signatures is not None:
                self._signatures.verify_chunk(self._signature, self._chunk_sha.hexdigest())
        return data

    def _start_chunk(self) -> None:
        size_text, _, extension = read_line(self._raw).decode("latin-1").partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise BucketError("InvalidChunkSizeError", "Malformed aws-chunked chunk header.") from None
        if self._signatures is not None:
            name, _, self._signature = extension.strip().partition("=")
            if name != "chunk-signature" or not self._signature:
                raise BucketError("SignatureDoesNotMatch", "A chunk of the signed aws-chunked body has no signature.")
            self._chunk_sha = hashlib.sha256()
        if size == 0:
            if self._signatures is not None:
                self._signatures.verify_chunk(self._signature, self._chunk_sha.hexdigest())
            self._finish()
        self._left = size

    def _finish(self) -> None:
        lines = []
        while line := read_line(self._raw):
            lines.append(line)
        fields = {}
        for line in lines:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise BucketError("MalformedTrailerError", "The aws-chunked trailer is malformed.")
            fields[name.strip().lower()] = value.strip()
        if self._signatures is not None and self._signed_trailer:
            signature = fields.pop(SIGNATURE_TRAILER, "")
            # The trailer signature covers the other trailer lines, each as "name:value\n".
            signed = b"".join(line + b"\n" for line in lines if not line.lower().startswith(SIGNATURE_TRAILER.encode()))
            self._signatures.verify_trailer(signature, signed)
        for name in self._trailers:
            if name not in fields:
                raise BucketError("MalformedTrailerError", f"The declared trailer {name} is missing.")
            algorithm = name.removeprefix(CHECKSUM_PREFIX)
            if name.startswith(CHECKSUM_PREFIX):
                expect = flexible_expectation(algorithm, fields[name], name)
                if expect is not None:
                    self._hasher.verify([expect])
        if self._decoded_length is not None and self._total != self._decoded_length:
            raise BucketError(
                "IncompleteBody", "The decoded body length does not match x-amz-decoded-content-length."
            )
        self.done = True
