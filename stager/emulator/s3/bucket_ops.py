"""Bucket-level operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
GetBucketLocation, ListObjects (v1 and v2) and ListMultipartUploads.

Not emulated: ListMultipartUploads paging markers (every upload up to
max-uploads is returned), ListObjectVersions, bucket sub-resource APIs.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .errors import BucketError
from .messages import MAX_LIST, Call, Response, empty_response, xml_response
from .policy import visible
from .store import BucketInfo, ObjectInfo
from .xmlio import el, fields, owner_element, parse_location

if TYPE_CHECKING:
    from .handlers import S3App


def list_buckets(app: S3App, call: Call) -> Response:
    buckets = [b for b in app.store.list_buckets() if visible(call.grant, b.name)]
    items = [el("Bucket", *fields(Name=b.name, CreationDate=b.created, BucketRegion=b.region)) for b in buckets]
    return xml_response(el("ListAllMyBucketsResult", owner_element(), el("Buckets", *items)))


def create_bucket(app: S3App, call: Call) -> Response:
    region = parse_location(call.data) or app.region
    try:
        app.store.create_bucket(call.bucket, region)
    except BucketError as e:
        if e.code != "BucketAlreadyExists":
            raise
        # The emulator has one account, so every existing bucket is the caller's own.
        raise BucketError(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            BucketName=call.bucket,
        ) from None
    return empty_response(200, [("Location", f"/{call.bucket}")])


def delete_bucket(app: S3App, call: Call) -> Response:
    app.store.delete_bucket(call.bucket)
    return empty_response(204)


def _bucket(app: S3App, name: str) -> BucketInfo:
    info = app.store.get_bucket(name)
    if info is None:
        raise BucketError("NoSuchBucket", "The specified bucket does not exist.", BucketName=name)
    return info


def head_bucket(app: S3App, call: Call) -> Response:
    info = _bucket(app, call.bucket)
    return empty_response(200, [("x-amz-bucket-region", info.region)])


def get_bucket_location(app: S3App, call: Call) -> Response:
    return xml_response(el("LocationConstraint", text=_bucket(app, call.bucket).region))


def _contents(o: ObjectInfo, encode, owner: bool) -> ET.Element:
    info = fields(Key=encode(o.key), LastModified=o.last_modified, ETag=f'"{o.etag}"', Size=o.size)
    return el("Contents", *info, el("StorageClass", text="STANDARD"), owner_element() if owner else None)


def list_objects_v2(app: S3App, call: Call) -> Response:
    q, encode = call.query, call.url_encoder()
    prefix, delimiter, start_after = q.get("prefix", ""), q.get("delimiter", ""), q.get("start-after", "")
    max_keys = min(call.int_param("max-keys", MAX_LIST), MAX_LIST)
    token = q.get("continuation-token")
    after = start_after
    if token is not None:
        after = _decode_token(token)
    res = app.store.list_objects(
        call.bucket, prefix=prefix, delimiter=delimiter, start_after=after, max_keys=max_keys
    )
    next_token = _encode_token(res.next_marker) if res.is_truncated and res.next_marker else None
    root = el(
        "ListBucketResult",
        *fields(
            Name=call.bucket,
            Prefix=encode(prefix),
            Delimiter=encode(delimiter) if delimiter else None,
            MaxKeys=max_keys,
            EncodingType=q.get("encoding-type"),
            KeyCount=len(res.objects) + len(res.common_prefixes),
            IsTruncated=res.is_truncated,
            ContinuationToken=token,
            NextContinuationToken=next_token,
            StartAfter=encode(start_after) if start_after else None,
        ),
        *(_contents(o, encode, q.get("fetch-owner") == "true") for o in res.objects),
        *(el("CommonPrefixes", el("Prefix", text=encode(p))) for p in res.common_prefixes),
    )
    return xml_response(root)


def list_objects(app: S3App, call: Call) -> Response:
    q, encode = call.query, call.url_encoder()
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    max_keys = min(call.int_param("max-keys", MAX_LIST), MAX_LIST)
    res = app.store.list_objects(
        call.bucket, prefix=prefix, delimiter=delimiter, start_after=marker, max_keys=max_keys
    )
    root = el(
        "ListBucketResult",
        *fields(
            Name=call.bucket,
            Prefix=encode(prefix),
            Marker=encode(marker),
            NextMarker=encode(res.next_marker) if res.is_truncated and res.next_marker else None,
            MaxKeys=max_keys,
            Delimiter=encode(delimiter) if delimiter else None,
            EncodingType=q.get("encoding-type"),
            IsTruncated=res.is_truncated,
        ),
        *(_contents(o, encode, True) for o in res.objects),
        *(el("CommonPrefixes", el("Prefix", text=encode(p))) for p in res.common_prefixes),
    )
    return xml_response(root)


def list_multipart_uploads(app: S3App, call: Call) -> Response:
    q, encode = call.query, call.url_encoder()
    max_uploads = min(call.int_param("max-uploads", MAX_LIST), MAX_LIST)
    uploads = app.store.list_multipart_uploads(call.bucket, prefix=q.get("prefix", ""), max_uploads=max_uploads)
    root = el(
        "ListMultipartUploadsResult",
        *fields(
            Bucket=call.bucket,
            KeyMarker="",
            UploadIdMarker="",
            Prefix=encode(q.get("prefix", "")),
            MaxUploads=max_uploads,
            EncodingType=q.get("encoding-type"),
            IsTruncated=False,
        ),
        *(
            el(
                "Upload",
                *fields(Key=encode(u.key), UploadId=u.upload_id),
                owner_element("Initiator"),
                owner_element(),
                *fields(StorageClass="STANDARD", Initiated=u.initiated),
            )
            for u in uploads
        ),
    )
    return xml_response(root)


def _encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BucketError("InvalidArgument", "The continuation token provided is incorrect") from None
