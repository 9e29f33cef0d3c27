"""Path-style addressing: which S3 operation a request is.

Only path-style URLs (``http://host:port/<bucket>/<key>``) are understood;
virtual-host style (``<bucket>.host``) is not emulated, so clients need
``Config(s3={"addressing_style": "path"})``. Sub-resources of APIs that are not
emulated (ACLs, policies, versioning, lifecycle, CORS, website, tagging, ...)
answer 501 NotImplemented rather than being mistaken for plain object calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from .errors import BucketError

UNSUPPORTED = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
        "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
        "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention",
        "select", "tagging", "torrent", "versioning", "versions", "website",
    }
)


@dataclass(frozen=True)
class Route:
    operation: str
    bucket: str | None
    key: str | None


def split_path(raw_path: str) -> tuple[str | None, str | None]:
    """``/bucket/key`` (percent-encoded) -> (bucket, key); either may be None."""
    if not raw_path.startswith("/"):
        raise BucketError("InvalidURI", "Couldn't parse the specified URI.")
    bucket_part, _, key_part = raw_path[1:].partition("/")
    try:
        bucket = unquote(bucket_part, errors="strict") or None
        key = unquote(key_part, errors="strict") or None
    except UnicodeDecodeError:
        raise BucketError("InvalidURI", "Couldn't parse the specified URI.") from None
    return bucket, key


def resolve(method: str, raw_path: str, query: dict[str, str], headers) -> Route:
    bucket, key = split_path(raw_path)
    unsupported = UNSUPPORTED.intersection(query)
    if unsupported or query.get("versionId", "null") != "null":
        what = ", ".join(sorted(unsupported)) or "versionId"
        raise BucketError("NotImplemented", f"The emulator does not implement {what}.")
    op = _operation(method, bucket, key, query, headers)
    if op is None:
        raise BucketError("MethodNotAllowed", "The specified method is not allowed against this resource.")
    return Route(op, bucket, key)


def _operation(method, bucket, key, query, headers) -> str | None:
    if bucket is None:
        return "ListBuckets" if method == "GET" else None
    if key is None:
        if method == "GET":
            if "location" in query:
                return "GetBucketLocation"
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        if method == "POST":
            return "DeleteObjects" if "delete" in query else None
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method)
    upload = "uploadId" in query
    if method == "PUT":
        copy = "x-amz-copy-source" in headers
        if upload or "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if method == "GET":
        return "ListParts" if upload else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if upload else "DeleteObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        return "CompleteMultipartUpload" if upload else None
    return None
