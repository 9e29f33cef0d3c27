"""S3 error codes and the exception that carries them.

One exception type for the whole package: the store raises it for missing
buckets and keys as well as for protocol problems, and the server renders any
of them as an S3 ``<Error>`` document with the status from ``STATUS``.
"""

from __future__ import annotations

# Status codes as Amazon S3 documents them; codes not listed answer 400.
STATUS: dict[str, int] = {
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "MethodNotAllowed": 405,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "MissingContentLength": 411,
    "PreconditionFailed": 412,
    "InvalidRange": 416,
    "InternalError": 500,
    "NotImplemented": 501,
}


class BucketError(Exception):
    """An S3 error: ``code`` is the S3 error code, ``message`` its text.

    ``status`` is the HTTP status the S3 endpoint answers with;
    ``extra`` holds additional ``<Error>`` children (e.g. ``Key``, ``BucketName``).
    """

    def __init__(self, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)
