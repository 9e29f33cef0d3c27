"""S3 XML documents: rendering responses and parsing the few request bodies.

Responses carry the 2006-03-01 namespace; ``<Error>`` documents carry none,
as S3's do. Request bodies are parsed namespace-agnostically.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from .errors import BucketError

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_DELETE_KEYS = 1000
OWNER_ID = "stager-emulator"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def el(tag: str, *children: ET.Element | None, text: Any = None) -> ET.Element:
    """An element with child elements or text; None children are skipped (optional fields)."""
    e = ET.Element(tag)
    if text is not None:
        e.text = _text(text)
    e.extend(c for c in children if c is not None)
    return e


def fields(**values: Any) -> list[ET.Element]:
    """``<Name>value</Name>`` per keyword, in order, skipping None values."""
    return [el(k, text=v) for k, v in values.items() if v is not None]


def owner_element(tag: str = "Owner") -> ET.Element:
    """The emulator has a single account, which owns everything."""
    return el(tag, *fields(ID=OWNER_ID, DisplayName=OWNER_ID))


def render(root: ET.Element, *, namespace: bool = True) -> bytes:
    if namespace:
        root.set("xmlns", NS)
    return _DECL + ET.tostring(root, encoding="unicode").encode("utf-8")


def error_document(code: str, message: str, resource: str, request_id: str, extra: dict[str, str]) -> bytes:
    root = el("Error", *fields(Code=code, Message=message, **extra, Resource=resource, RequestId=request_id))
    return render(root, namespace=False)


# ----- request bodies ---------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes) -> ET.Element:
    # No DTDs: nothing S3 accepts needs one, and refusing them rules out entity expansion.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BucketError("MalformedXML", "The XML you provided was not well-formed.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise BucketError("MalformedXML", "The XML you provided was not well-formed.") from None
    for e in root.iter():
        e.tag = _local(e.tag)
    return root


def _child_text(e: ET.Element, tag: str) -> str | None:
    c = e.find(tag)
    return None if c is None else (c.text or "")


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """DeleteObjects body -> (keys, quiet)."""
    root = parse(body)
    if root.tag != "Delete":
        raise BucketError("MalformedXML", "The XML you provided was not well-formed.")
    keys = []
    for obj in root.findall("Object"):
        key = _child_text(obj, "Key")
        if not key:
            raise BucketError("MalformedXML", "Each Object in a Delete request needs a Key.")
        keys.append(key)
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise BucketError("MalformedXML", f"A Delete request names between 1 and {MAX_DELETE_KEYS} keys.")
    return keys, (_child_text(root, "Quiet") or "").strip().lower() == "true"


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload body -> [(part number, etag)] in document order."""
    root = parse(body)
    parts = []
    for part in root.findall("Part"):
        try:
            parts.append((int(_child_text(part, "PartNumber") or ""), _child_text(part, "ETag") or ""))
        except ValueError:
            raise BucketError("MalformedXML", "PartNumber must be an integer.") from None
    return parts


def parse_location(body: bytes) -> str | None:
    """CreateBucketConfiguration body -> LocationConstraint, or None when absent."""
    if not body.strip():
        return None
    return _child_text(parse(body), "LocationConstraint") or None
