"""The request and response shapes passed between the HTTP layer and the handlers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import BinaryIO
from urllib.parse import quote

from .checksums import Expect
from .errors import BucketError
from .policy import Grant
from .routing import Route
from .xmlio import render

MAX_LIST = 1000  # the most keys, parts or uploads one listing returns, as in S3


@dataclass
class Request:
    method: str
    raw_path: str  # percent-encoded, as sent
    raw_query: str
    headers: Message  # case-insensitive; get_all for repeated headers
    open_body: Callable[[], BinaryIO]  # the framed body; sends "100 Continue" if the client waits for it

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name)
        return default if value is None else value.strip()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Sent after ``body``: ``length`` bytes from the stream's position, then it is closed.
    # A HEAD response sets ``length`` without a stream, for its Content-Length.
    stream: BinaryIO | None = None
    length: int = 0

    @property
    def content_length(self) -> int:
        return len(self.body) + self.length


@dataclass
class Call:
    """One authenticated, authorized request on its way to an operation."""

    request: Request
    route: Route
    grant: Grant
    query: dict[str, str]
    copy_source: tuple[str, str] | None
    body: BinaryIO  # the decoded payload
    expect: list[Expect]
    data: bytes = b""  # small bodies (XML documents), read and verified before the operation runs

    @property
    def bucket(self) -> str:
        return self.route.bucket or ""

    @property
    def key(self) -> str:
        return self.route.key or ""

    def header(self, name: str, default: str = "") -> str:
        return self.request.header(name, default)

    def int_param(self, name: str, default: int) -> int:
        try:
            value = int(self.query.get(name, default))
        except ValueError:
            value = -1
        if value < 0:
            raise BucketError("InvalidArgument", f"{name} must be a non-negative integer.")
        return value

    def url_encoder(self) -> Callable[[str], str]:
        """encoding-type=url (botocore always asks for it when listing) percent-encodes keys in the XML."""
        kind = self.query.get("encoding-type")
        if kind is None:
            return lambda s: s
        if kind != "url":
            raise BucketError("InvalidArgument", "Invalid Encoding Method specified in Request")
        return lambda s: quote(s, safe="/")

    def user_metadata(self) -> dict[str, str]:
        """``x-amz-meta-*`` request headers, names lowercased and without the prefix."""
        return {
            name.lower().removeprefix("x-amz-meta-"): value.strip()
            for name, value in self.request.headers.items()
            if name.lower().startswith("x-amz-meta-")
        }


def xml_response(root: ET.Element, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [("Content-Type", "application/xml"), *(headers or [])], render(root))


def empty_response(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, list(headers or []))
