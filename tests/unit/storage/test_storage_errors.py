"""botocore's errors become one-line stager errors: UsageError for bad input, JobFailed for failures."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from stager.errors import JobFailed, UsageError
from stager.storage.errors import describe, s3_call


def client_error(code: str, status: int, message: str = "", operation: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


@pytest.mark.parametrize("exc, kind, words", [
    (client_error("NoSuchBucket", 404), UsageError, "bucket b does not exist at http://s3"),
    (client_error("InvalidAccessKeyId", 403), UsageError, "refused the Object Storage keys (InvalidAccessKeyId)"),
    (client_error("SignatureDoesNotMatch", 403), UsageError, "refused the Object Storage keys"),
    (client_error("AccessDenied", 403), UsageError, "access denied to s3://b/p"),
    (client_error("403", 403, operation="HeadObject"), UsageError, "access denied"),
    (client_error("NoSuchKey", 404), JobFailed, "s3://b/p does not exist"),
    (client_error("SlowDown", 503), JobFailed, "answered SlowDown after retries"),
    (client_error("EntityTooLarge", 400, "Your proposed upload\nexceeds the maximum"), JobFailed,
     "EntityTooLarge: Your proposed upload exceeds the maximum"),
    (EndpointConnectionError(endpoint_url="http://s3"), JobFailed, "cannot reach the S3 endpoint http://s3"),
    (ReadTimeoutError(endpoint_url="http://s3"), JobFailed, "cannot reach"),
])
def test_errors_are_typed_and_one_line(exc, kind, words):
    error = describe(exc, action="syncing", where="s3://b/p", endpoint="http://s3", bucket="b")
    assert type(error) is kind
    assert words in str(error) and "\n" not in str(error)


def test_s3_call_raises_without_chaining_the_botocore_exception():
    def fail():
        raise client_error("AccessDenied", 403)

    with pytest.raises(UsageError) as caught:
        s3_call(fail, action="listing", where="s3://b", endpoint="http://s3", bucket="b")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert s3_call(lambda: 42, action="x", where="y", endpoint=None) == 42
