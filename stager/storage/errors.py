"""botocore's exceptions as stager's one-line errors.

Bad input (a bucket that does not exist, keys the endpoint refuses, a key not
allowed this bucket) is a ``UsageError`` (exit 2); everything that went wrong
while working (an endpoint that does not answer, a server error, a transfer
cut short) is a ``JobFailed`` (exit 1). Messages are built from the S3 error
code and stager's own words, never from the request: no key, secret or
signature can reach them, and the botocore exception is not chained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from stager.errors import JobFailed, StagerError, UsageError

__all__ = ["CREDENTIAL_HELP", "describe", "s3_call"]

T = TypeVar("T")

CREDENTIAL_HELP = ("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the object_storage keys in "
                   "$STAGER_HOME/credentials.yaml")
_REFUSED_KEYS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed",
                           "InvalidToken", "ExpiredToken", "InvalidSecurity"})
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"})


def describe(exc: BaseException, *, action: str, where: str, endpoint: str | None,
             bucket: str | None = None) -> StagerError:
    """The stager error for a botocore exception raised while ``action`` on ``where`` (returned, not raised).

    Raises:
        Nothing.
    """
    from botocore import exceptions as bx

    host = endpoint or "the S3 endpoint"
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        message = " ".join(str(error.get("Message") or "").split())
        if code == "NoSuchBucket":
            return UsageError(f"{action}: bucket {bucket or where} does not exist at {host}")
        if code in _REFUSED_KEYS:
            return UsageError(f"{action}: {host} refused the Object Storage keys ({code}); {CREDENTIAL_HELP}")
        if code in ("AccessDenied", "403", "AllAccessDisabled") or status == 403:
            return UsageError(f"{action}: access denied to {where} ({code or status}): the keys are refused, or "
                              f"not allowed this bucket; {CREDENTIAL_HELP}")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return JobFailed(f"{action}: {where} does not exist")
        if code in _BUSY or (status or 0) >= 500:
            return JobFailed(f"{action}: {host} answered {code or status} after retries; try again later")
        detail = f": {message}" if message else ""
        return JobFailed(f"{action} failed: {code or status}{detail}")
    if isinstance(exc, (bx.ConnectionError, bx.HTTPClientError)):
        return JobFailed(f"{action}: cannot reach the S3 endpoint {host} ({type(exc).__name__}); check the "
                         "endpoint URL and the network")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return UsageError(f"{action}: no Object Storage keys were given; {CREDENTIAL_HELP}")
    if isinstance(exc, bx.ParamValidationError):
        return UsageError(f"{action}: {' '.join(str(exc).split())}")
    return JobFailed(f"{action} failed: {type(exc).__name__}: {' '.join(str(exc).split())}")


def s3_call(fn: Callable[[], T], *, action: str, where: str, endpoint: str | None,
            bucket: str | None = None) -> T:
    """``fn()``, with botocore's exceptions turned into stager's (see :func:`describe`).

    Raises:
        UsageError: bad input (missing bucket, refused keys, access denied).
        JobFailed: any other S3 or connection failure.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except (BotoCoreError, ClientError) as exc:
        error = describe(exc, action=action, where=where, endpoint=endpoint, bucket=bucket)
    raise error  # outside the except block: nothing of botocore's exception is chained


def is_missing(exc: BaseException) -> bool:
    """Whether a botocore exception says the object (not the bucket) does not exist."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str((exc.response.get("Error") or {}).get("Code") or "")
    return code in ("NoSuchKey", "404", "NotFound")
