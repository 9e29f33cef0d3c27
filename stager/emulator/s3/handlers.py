"""The S3 request pipeline: route, authenticate, check payload rules, authorize, dispatch.

The operations themselves live in bucket_ops, object_ops and multipart_ops;
see those modules for what each emulates and what it does not.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import unquote

from . import bucket_ops, multipart_ops, object_ops
from .bodies import read_all
from .checksums import FLEXIBLE, Expect, decode_b64, flexible_expectation, hasher_for
from .chunked import AwsChunkedReader
from .errors import BucketError
from .messages import Call, Request, Response
from .policy import Grant, authorize
from .routing import resolve
from .sigv4 import (
    UNSIGNED_PAYLOAD,
    Authenticated,
    ChunkSignatures,
    authenticate,
    parse_query,
)
from .store import BucketStore
from .xmlio import error_document

logger = logging.getLogger(__name__)

STREAMING_FIX = (
    "boto3/botocore 1.36 and later send flexible checksums (CRC32, aws-chunked uploads) by default, "
    "which Linode Object Storage rejects with XAmzContentSHA256Mismatch. Create the client with "
    'botocore.config.Config(request_checksum_calculation="when_required", '
    'response_checksum_validation="when_required").'
)
DATA_OPERATIONS = frozenset({"PutObject", "UploadPart"})  # bodies streamed to the store, never held in memory
SMALL_BODY_LIMIT = 4 * 1024 * 1024  # XML documents; a 1000-key DeleteObjects fits
_HEX64 = re.compile(r"[0-9a-f]{64}")

OPERATIONS: dict[str, Callable[[S3App, Call], Response]] = {
    "ListBuckets": bucket_ops.list_buckets,
    "CreateBucket": bucket_ops.create_bucket,
    "DeleteBucket": bucket_ops.delete_bucket,
    "HeadBucket": bucket_ops.head_bucket,
    "GetBucketLocation": bucket_ops.get_bucket_location,
    "ListObjects": bucket_ops.list_objects,
    "ListObjectsV2": bucket_ops.list_objects_v2,
    "ListMultipartUploads": bucket_ops.list_multipart_uploads,
    "PutObject": object_ops.put_object,
    "GetObject": object_ops.get_object,
    "HeadObject": object_ops.head_object,
    "DeleteObject": object_ops.delete_object,
    "DeleteObjects": object_ops.delete_objects,
    "CopyObject": object_ops.copy_object,
    "CreateMultipartUpload": multipart_ops.create_multipart_upload,
    "UploadPart": multipart_ops.upload_part,
    "UploadPartCopy": multipart_ops.upload_part_copy,
    "CompleteMultipartUpload": multipart_ops.complete_multipart_upload,
    "AbortMultipartUpload": multipart_ops.abort_multipart_upload,
    "ListParts": multipart_ops.list_parts,
}


def _has_flexible_checksum(request: Request) -> bool:
    return any(
        n.lower().startswith("x-amz-checksum-") or n.lower() in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer")
        for n in request.headers
    )


def _copy_source(request: Request) -> tuple[str, str]:
    raw, _, version = request.header("x-amz-copy-source").partition("?")
    if version and version != "versionId=null":
        raise BucketError("NotImplemented", "The emulator does not implement versionId.")
    bucket, _, key = unquote(raw).lstrip("/").partition("/")
    if not bucket or not key:
        raise BucketError("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    return bucket, key


class S3App:
    """Turns a ``Request`` into a ``Response``; stateless apart from the store."""

    def __init__(
        self,
        store: BucketStore,
        credentials: Callable[[str], Grant | None],
        *,
        region: str,
        reject_streaming_checksums: bool,
        endpoint: Callable[[], str],
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.region = region
        self.reject_streaming_checksums = reject_streaming_checksums
        self.endpoint = endpoint

    # ----- pipeline -----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            response = self._handle(request)
        except BucketError as e:
            response = self._error(e, request, request_id)
        except Exception:
            logger.exception("S3 emulator: %s %s failed", request.method, request.raw_path)
            e = BucketError("InternalError", "We encountered an internal error. Please try again.")
            response = self._error(e, request, request_id)
        response.headers += [("x-amz-request-id", request_id), ("x-amz-id-2", request_id)]
        return response

    def _handle(self, request: Request) -> Response:
        query = dict(parse_query(request.raw_query))
        route = resolve(request.method, request.raw_path, query, request.headers)
        grants: dict[str, Grant | None] = {}

        def secret_for(access_key: str) -> str | None:
            grants[access_key] = grant = self.credentials(access_key)
            return None if grant is None else grant.secret_key

        auth = authenticate(request.method, request.raw_path, request.raw_query, request.headers, secret_for)
        grant = grants[auth.access_key]
        encodings = request.header("Content-Encoding").lower()
        streaming = auth.payload_hash.startswith("STREAMING-") or "aws-chunked" in encodings
        if self.reject_streaming_checksums and (
            streaming or (route.operation in DATA_OPERATIONS and _has_flexible_checksum(request))
        ):
            # Over HTTPS botocore sends these as aws-chunked trailers; over plain HTTP it
            # puts the CRC32 in a header instead. Both are the same client misconfiguration.
            raise BucketError("XAmzContentSHA256Mismatch", STREAMING_FIX)
        copy_source = _copy_source(request) if route.operation in ("CopyObject", "UploadPartCopy") else None
        authorize(grant, route.operation, route.bucket, copy_source[0] if copy_source else None)
        body = self._payload(request, auth, streaming)
        expect = self._expectations(request, auth, streaming)
        call = Call(request, route, grant, query, copy_source, body, expect)
        if route.operation not in DATA_OPERATIONS:
            call.data = read_all(body, SMALL_BODY_LIMIT)
            hasher = hasher_for(expect)
            hasher.update(call.data)
            hasher.verify(expect)
        return OPERATIONS[route.operation](self, call)

    def _payload(self, request: Request, auth: Authenticated, streaming: bool) -> BinaryIO:
        raw = request.open_body()
        if not streaming:
            return raw
        mode = auth.payload_hash
        if mode.startswith("STREAMING-AWS4-ECDSA"):
            raise BucketError("NotImplemented", "Signature Version 4A (ECDSA) is not emulated.")
        if mode not in (
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            UNSIGNED_PAYLOAD,
        ):
            raise BucketError("InvalidArgument", f"Unsupported x-amz-content-sha256 value for aws-chunked: {mode}")
        signed = mode.startswith("STREAMING-AWS4-HMAC-SHA256")
        decoded = request.header("x-amz-decoded-content-length")
        try:
            decoded_length = int(decoded) if decoded else None
        except ValueError:
            raise BucketError("InvalidArgument", "x-amz-decoded-content-length must be an integer.") from None
        return AwsChunkedReader(
            raw,
            signatures=ChunkSignatures(auth) if signed else None,
            signed_trailer=signed and mode.endswith("-TRAILER"),
            trailers=request.header("x-amz-trailer").split(","),
            decoded_length=decoded_length,
        )

    @staticmethod
    def _expectations(request: Request, auth: Authenticated, streaming: bool) -> list[Expect]:
        out = []
        md5 = request.header("Content-MD5")
        if md5:
            raw = decode_b64(md5, code="InvalidDigest", source="Content-MD5", size=16)
            out.append(Expect("md5", raw, "BadDigest", "Content-MD5"))
        payload_hash = auth.payload_hash.lower()
        if not streaming:
            if _HEX64.fullmatch(payload_hash):
                out.append(
                    Expect("sha256", bytes.fromhex(payload_hash), "XAmzContentSHA256Mismatch", "x-amz-content-sha256")
                )
            elif auth.payload_hash != UNSIGNED_PAYLOAD:
                raise BucketError(
                    "InvalidArgument",
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or the hex SHA-256 "
                    "of the payload.",
                )
        for algorithm in FLEXIBLE:
            value = request.header(f"x-amz-checksum-{algorithm}")
            if value:
                expect = flexible_expectation(algorithm, value, f"x-amz-checksum-{algorithm}")
                if expect is not None:
                    out.append(expect)
        return out

    def _error(self, e: BucketError, request: Request, request_id: str) -> Response:
        headers = [("Content-Type", "application/xml")]
        if e.code == "InvalidRange" and e.extra.get("ActualObjectSize"):
            headers.append(("Content-Range", f"bytes */{e.extra['ActualObjectSize']}"))
        if request.method == "HEAD":
            return Response(e.status, headers)  # HEAD answers carry no body
        body = error_document(e.code, e.message, request.raw_path, request_id, e.extra)
        return Response(e.status, headers, body)
