"""S3 naming and size rules shared by the store and multipart uploads."""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import BinaryIO

from .errors import BucketError

MAX_PUT_SIZE = 5 * 1024**3  # a single PUT or part, as on Linode and S3
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def now() -> datetime:
    """UTC now at millisecond precision, the precision S3 listings show."""
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def is_valid_bucket_name(name: str) -> bool:
    """3-63 of a-z 0-9 . -, alphanumeric at both ends, no '..', not an IPv4 address."""
    if not isinstance(name, str) or not _BUCKET_RE.fullmatch(name):
        return False
    if ".." in name or ".-" in name or "-." in name or name.startswith("xn--") or name.endswith("-s3alias"):
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


def check_key(key: str) -> None:
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise BucketError("InvalidArgument", "Object keys must be valid UTF-8.") from None
    if not raw:
        raise BucketError("InvalidArgument", "Object keys must not be empty.")
    if len(raw) > MAX_KEY_BYTES:
        raise BucketError("KeyTooLongError", "Your key is too long.")


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata with lowercased names; S3 caps names plus values at 2 KB."""
    meta = {str(k).lower(): str(v) for k, v in metadata.items()}
    if sum(len(k.encode()) + len(v.encode()) for k, v in meta.items()) > MAX_METADATA_BYTES:
        raise BucketError("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
    return meta


def as_stream(body: BinaryIO | bytes) -> BinaryIO:
    return io.BytesIO(body) if isinstance(body, (bytes, bytearray, memoryview)) else body
