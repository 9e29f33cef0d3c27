"""Who may do what: access keys with Linode's per-bucket permissions.

An unrestricted key (``buckets=None``) may do anything. A limited key, like a
Linode key created with ``bucket_access``, may touch only the buckets it lists:
``read_only`` allows listing and reading, ``read_write`` also writing and
deleting objects. Limited keys may not create or delete buckets, and
ListBuckets shows them only their own buckets. A bucket a limited key does not
list answers AccessDenied whether or not it exists, so existence does not leak.

Not emulated: bucket policies, ACLs, public-read buckets, anonymous access.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BucketError

READ_ONLY = "read_only"
READ_WRITE = "read_write"

READ_OPERATIONS = frozenset(
    {"HeadBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "GetObject", "HeadObject", "ListMultipartUploads"}
)
WRITE_OPERATIONS = frozenset(
    {
        "PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CreateMultipartUpload", "UploadPart",
        "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
    }
)
ACCOUNT_OPERATIONS = frozenset({"CreateBucket", "DeleteBucket"})


@dataclass(frozen=True)
class Grant:
    """What an access key may do: its secret, and None or bucket name -> read_only | read_write."""

    secret_key: str
    buckets: dict[str, str] | None = None


def visible(grant: Grant, bucket: str) -> bool:
    return grant.buckets is None or bucket in grant.buckets


def _denied() -> BucketError:
    return BucketError("AccessDenied", "Access Denied")


def authorize(grant: Grant, operation: str, bucket: str | None, copy_source_bucket: str | None = None) -> None:
    """Raise AccessDenied unless ``grant`` allows ``operation`` on ``bucket``."""
    if grant.buckets is None or operation == "ListBuckets":
        return
    if operation in ACCOUNT_OPERATIONS:
        raise _denied()
    permission = grant.buckets.get(bucket or "")
    if permission is None:
        raise _denied()
    if operation in WRITE_OPERATIONS and permission != READ_WRITE:
        raise _denied()
    if operation not in READ_OPERATIONS | WRITE_OPERATIONS:
        raise _denied()  # anything new is refused until classified
    if copy_source_bucket is not None and copy_source_bucket not in grant.buckets:
        raise _denied()
