"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.

GetObject/HeadObject honour single ``bytes=`` ranges, If-Match / If-None-Match /
If-Modified-Since / If-Unmodified-Since and the ``response-*`` header overrides
of presigned URLs. Not emulated: ``partNumber`` reads, multi-range requests
(answered with the whole object, as HTTP allows), the ``x-amz-copy-source-if-*``
conditions of CopyObject, SSE headers, storage classes (always STANDARD).
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .checksums import FLEXIBLE
from .errors import BucketError
from .messages import Call, Response, empty_response, xml_response
from .store import ObjectInfo
from .xmlio import el, fields, parse_delete

if TYPE_CHECKING:
    from .handlers import S3App

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"


def http_date(t: datetime) -> str:
    return email.utils.format_datetime(t.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        t = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def _etag_matches(header: str, etag: str) -> bool:
    wanted = {t.strip().removeprefix("W/").strip('"') for t in header.split(",")}
    return "*" in wanted or etag in wanted


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single ``bytes=`` range; None serves the whole object."""
    m = _RANGE.fullmatch(header.strip()) if header else None
    if m is None or not (m[1] or m[2]):
        return None  # absent, multi-range or unparsable: ignored, as HTTP allows
    if m[1]:
        start = int(m[1])
        end = min(int(m[2]), size - 1) if m[2] else size - 1
        if m[2] and int(m[2]) < start:
            return None
        if start >= size:
            raise BucketError("InvalidRange", "The requested range is not satisfiable", RangeRequested=header)
        return start, end
    suffix = int(m[2])
    if suffix == 0 or size == 0:
        raise BucketError("InvalidRange", "The requested range is not satisfiable", RangeRequested=header)
    return max(0, size - suffix), size - 1


def put_object(app: S3App, call: Call) -> Response:
    info = app.store.put_object(
        call.bucket,
        call.key,
        call.body,
        content_type=call.header("Content-Type") or None,
        metadata=call.user_metadata(),
        expect=call.expect,
    )
    return empty_response(200, [("ETag", f'"{info.etag}"')])


def get_object(app: S3App, call: Call) -> Response:
    return _read_object(app, call, head=False)


def head_object(app: S3App, call: Call) -> Response:
    return _read_object(app, call, head=True)


def _read_object(app: S3App, call: Call, *, head: bool) -> Response:
    if head:
        info, f = app.store.head_object(call.bucket, call.key), None
    else:
        info, f = app.store.get_object(call.bucket, call.key)
    try:
        headers = [
            ("ETag", f'"{info.etag}"'),
            ("Last-Modified", http_date(info.last_modified)),
        ]
        status = _precondition(call, info)
        if status == 304:
            if f is not None:
                f.close()
            return empty_response(304, headers)
        headers += [("Content-Type", info.content_type), ("Accept-Ranges", "bytes")]
        headers += [(f"x-amz-meta-{k}", v) for k, v in info.metadata.items()]
        for param, header in RESPONSE_OVERRIDES.items():
            if param in call.query:
                headers = [(n, v) for n, v in headers if n != header] + [(header, call.query[param])]
        try:
            byte_range = _byte_range(call.header("Range"), info.size)
        except BucketError as e:
            e.extra["ActualObjectSize"] = str(info.size)
            raise
        status, start, length = 200, 0, info.size
        if byte_range is not None:
            start, end = byte_range
            status, length = 206, end - start + 1
            headers.append(("Content-Range", f"bytes {start}-{end}/{info.size}"))
        if f is not None:
            f.seek(start)
        return Response(status, headers, stream=f, length=length)
    except BaseException:
        if f is not None:
            f.close()
        raise


def _precondition(call: Call, info: ObjectInfo) -> int:
    """412 raised, 304 returned, 200 when the object should be sent (RFC 7232 order)."""
    modified = info.last_modified.replace(microsecond=0)
    if_match, if_none_match = call.header("If-Match"), call.header("If-None-Match")
    if if_match:
        if not _etag_matches(if_match, info.etag):
            raise BucketError("PreconditionFailed", _PRECONDITION_FAILED)
    elif (since := _parse_http_date(call.header("If-Unmodified-Since"))) and modified > since:
        raise BucketError("PreconditionFailed", _PRECONDITION_FAILED)
    if if_none_match:
        return 304 if _etag_matches(if_none_match, info.etag) else 200
    if (since := _parse_http_date(call.header("If-Modified-Since"))) and modified <= since:
        return 304
    return 200


def delete_object(app: S3App, call: Call) -> Response:
    app.store.delete_object(call.bucket, call.key)
    return empty_response(204)


def delete_objects(app: S3App, call: Call) -> Response:
    if not call.header("Content-MD5") and not any(call.header(f"x-amz-checksum-{a}") for a in FLEXIBLE):
        raise BucketError("InvalidRequest", "Missing required header for this request: Content-MD5")
    keys, quiet = parse_delete(call.data)
    results = []
    for key in keys:
        try:
            app.store.delete_object(call.bucket, key)
        except BucketError as e:
            if e.code == "NoSuchBucket":
                raise
            results.append(el("Error", *fields(Key=key, Code=e.code, Message=e.message)))
        else:
            if not quiet:
                results.append(el("Deleted", el("Key", text=key)))
    return xml_response(el("DeleteResult", *results))


def copy_object(app: S3App, call: Call) -> Response:
    src_bucket, src_key = call.copy_source
    directive = call.header("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise BucketError("InvalidArgument", "Unknown metadata directive.")
    replace = directive == "REPLACE"
    info = app.store.copy_object(
        src_bucket,
        src_key,
        call.bucket,
        call.key,
        content_type=(call.header("Content-Type") or None) if replace else None,
        metadata=call.user_metadata() if replace else None,
    )
    return xml_response(el("CopyObjectResult", *fields(LastModified=info.last_modified, ETag=f'"{info.etag}"')))
