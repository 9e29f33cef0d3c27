"""Making sure a bucket exists before a sync or a run writes to it."""

from __future__ import annotations

from collections.abc import Callable

from stager.errors import UsageError

__all__ = ["ensure_bucket"]

_MISSING = ("404", "NoSuchBucket", "NotFound")


def ensure_bucket(client, bucket: str, *, say: Callable[[str], None] = print) -> bool:
    """Create ``bucket`` when it does not exist yet (S3 CreateBucket, so any S3-compatible endpoint).

    Returns True when it was created.

    Raises:
        UsageError: the keys may not see the bucket, or it cannot be created.
    """
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING:
            raise UsageError(f"bucket {bucket}: {exc.response.get('Error', {}).get('Code')}; check the keys") from None
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        raise UsageError(f"cannot create bucket {bucket}: {exc.response.get('Error', {}).get('Message')}") from None
    say(f"created bucket {bucket}")
    return True
