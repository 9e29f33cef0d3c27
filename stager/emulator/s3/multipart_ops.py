"""Multipart operations: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from .errors import BucketError
from .messages import MAX_LIST, Call, Response, empty_response, xml_response
from .xmlio import el, fields, owner_element, parse_complete

if TYPE_CHECKING:
    from .handlers import S3App

_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def create_multipart_upload(app: S3App, call: Call) -> Response:
    upload_id = app.store.create_multipart_upload(
        call.bucket,
        call.key,
        content_type=call.header("Content-Type") or None,
        metadata=call.user_metadata(),
    )
    return xml_response(
        el("InitiateMultipartUploadResult", *fields(Bucket=call.bucket, Key=call.key, UploadId=upload_id))
    )


def upload_part(app: S3App, call: Call) -> Response:
    part = app.store.upload_part(
        call.bucket, call.key, call.query["uploadId"], call.int_param("partNumber", 0), call.body,
        expect=call.expect,
    )
    return empty_response(200, [("ETag", f'"{part.etag}"')])


def upload_part_copy(app: S3App, call: Call) -> Response:
    src_bucket, src_key = call.copy_source
    byte_range = None
    if header := call.header("x-amz-copy-source-range"):
        m = _COPY_RANGE.fullmatch(header)
        if m is None:
            raise BucketError("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last.")
        byte_range = (int(m[1]), int(m[2]))
    part = app.store.upload_part_copy(
        call.bucket, call.key, call.query["uploadId"], call.int_param("partNumber", 0), src_bucket, src_key,
        byte_range,
    )
    return xml_response(el("CopyPartResult", *fields(LastModified=part.last_modified, ETag=f'"{part.etag}"')))


def complete_multipart_upload(app: S3App, call: Call) -> Response:
    parts = parse_complete(call.data)
    info = app.store.complete_multipart_upload(call.bucket, call.key, call.query["uploadId"], parts)
    location = f"{app.endpoint()}/{call.bucket}/{quote(call.key, safe='/~')}"
    return xml_response(
        el(
            "CompleteMultipartUploadResult",
            *fields(Location=location, Bucket=call.bucket, Key=call.key, ETag=f'"{info.etag}"'),
        )
    )


def abort_multipart_upload(app: S3App, call: Call) -> Response:
    app.store.abort_multipart_upload(call.bucket, call.key, call.query["uploadId"])
    return empty_response(204)


def list_parts(app: S3App, call: Call) -> Response:
    q = call.query
    marker = call.int_param("part-number-marker", 0)
    max_parts = min(call.int_param("max-parts", MAX_LIST), MAX_LIST)
    remaining = [p for p in app.store.list_parts(call.bucket, call.key, q["uploadId"]) if p.number > marker]
    page = remaining[:max_parts]
    root = el(
        "ListPartsResult",
        *fields(
            Bucket=call.bucket,
            Key=call.key,
            UploadId=q["uploadId"],
            PartNumberMarker=marker,
            NextPartNumberMarker=page[-1].number if page else marker,
            MaxParts=max_parts,
            IsTruncated=len(remaining) > max_parts,
        ),
        owner_element("Initiator"),
        owner_element(),
        el("StorageClass", text="STANDARD"),
        *(
            el("Part", *fields(PartNumber=p.number, LastModified=p.last_modified, ETag=f'"{p.etag}"', Size=p.size))
            for p in page
        ),
    )
    return xml_response(root)
