"""Request body framing: Content-Length and HTTP/1.1 chunked transfer coding.

``http.server`` hands handlers the raw socket stream; these readers stop at
the end of the current request's body so a keep-alive connection stays in
step, and they never buffer more than one read's worth.
"""

from __future__ import annotations

from typing import BinaryIO

from .errors import BucketError

MAX_LINE = 4096


def _incomplete() -> BucketError:
    return BucketError("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length.")


def read_line(raw: BinaryIO) -> bytes:
    """One CRLF-terminated line without its CRLF (framing lines are short)."""
    line = raw.readline(MAX_LINE)
    if not line.endswith(b"\n"):
        raise BucketError("IncompleteBody", "The request body ended in the middle of a chunk header.")
    return line.rstrip(b"\r\n")


class LimitedReader:
    """Exactly ``length`` bytes of ``raw``."""

    def __init__(self, raw: BinaryIO, length: int) -> None:
        self._raw = raw
        self.remaining = length

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def read(self, n: int = -1) -> bytes:
        if self.remaining == 0:
            return b""
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        data = self._raw.read(n)
        if not data:
            raise _incomplete()
        self.remaining -= len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        limit = self.remaining if limit < 0 else min(limit, self.remaining)
        line = self._raw.readline(limit) if limit else b""
        self.remaining -= len(line)
        return line


class HttpChunkedReader:
    """The payload of a ``Transfer-Encoding: chunked`` body (botocore uses it for aws-chunked uploads)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._left = 0  # bytes left in the current chunk
        self.done = False

    def _next_chunk(self) -> None:
        if self._left == 0 and not self.done:
            size = read_line(self._raw).split(b";", 1)[0].strip()
            try:
                self._left = int(size, 16)
            except ValueError:
                raise BucketError("IncompleteBody", "Malformed chunked transfer encoding.") from None
            if self._left == 0:
                while read_line(self._raw):  # trailer fields, then the empty line
                    pass
                self.done = True

    def _end_chunk(self) -> None:
        if self._left == 0 and read_line(self._raw) != b"":
            raise BucketError("IncompleteBody", "Malformed chunked transfer encoding.")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(1024 * 1024), b""))
        self._next_chunk()
        if self.done or n == 0:
            return b""
        data = self._raw.read(min(n, self._left))
        if not data:
            raise _incomplete()
        self._left -= len(data)
        self._end_chunk()
        return data

    def readline(self, limit: int = -1) -> bytes:
        self._next_chunk()
        if self.done:
            return b""
        limit = self._left if limit < 0 else min(limit, self._left)
        line = self._raw.readline(limit)
        if not line:
            raise _incomplete()
        self._left -= len(line)
        self._end_chunk()
        return line


def read_all(body: BinaryIO, limit: int) -> bytes:
    """A small body (XML documents) in memory; more than ``limit`` bytes is refused."""
    parts, total = [], 0
    while chunk := body.read(limit + 1 - total):
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            raise BucketError("MaxMessageLengthExceeded", "Your request was too big.")
    return b"".join(parts)
