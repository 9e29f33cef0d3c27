"""boto3 >= 1.36's default flexible checksums: refused like Linode does, or decoded when allowed;
payload digests (x-amz-content-sha256, x-amz-checksum-*, aws-chunked signatures) are verified."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import os
import zlib
from urllib.parse import urlsplit

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3_keys import ACCOUNT
from s3_signing import Signer

from stager.emulator.s3 import BucketError
from stager.emulator.s3.chunked import AwsChunkedReader

MiB = 1024 * 1024


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


# ----- through boto3 ------------------------------------------------------------------------


def test_default_client_is_refused_over_http(server, make_client, client, bucket):
    default = make_client(server.endpoint, checksums=True)
    with pytest.raises(ClientError, match=r"\(XAmzContentSHA256Mismatch\)") as err:
        default.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err.value.response["Error"]["Message"]
    assert 'request_checksum_calculation="when_required"' in message
    assert 'response_checksum_validation="when_required"' in message
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # Reads and checksum-required calls still work with the default client.
    client.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert default.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    default.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})


def test_default_client_is_refused_over_https(store, start_server, make_client, tls_files, tls_context):
    server = start_server(store, ssl_context=tls_context)
    assert server.endpoint.startswith("https://")
    configured = make_client(server.endpoint, verify=str(tls_files[0]))
    configured.create_bucket(Bucket="tls-bucket")
    default = make_client(server.endpoint, checksums=True, verify=str(tls_files[0]))
    with pytest.raises(ClientError, match=r"\(XAmzContentSHA256Mismatch\)") as err:
        default.put_object(Bucket="tls-bucket", Key="k", Body=b"data")  # aws-chunked + CRC32 trailer
    assert "when_required" in err.value.response["Error"]["Message"]
    configured.put_object(Bucket="tls-bucket", Key="k", Body=b"data")
    assert configured.get_object(Bucket="tls-bucket", Key="k")["Body"].read() == b"data"


def test_default_client_accepted_when_not_rejecting_http(store, start_server, make_client):
    server = start_server(store, reject_streaming_checksums=False)
    default = make_client(server.endpoint, checksums=True)
    default.create_bucket(Bucket="lenient")
    default.put_object(Bucket="lenient", Key="k", Body=b"header crc32")
    assert default.get_object(Bucket="lenient", Key="k")["Body"].read() == b"header crc32"
    with pytest.raises(ClientError, match=r"\(BadDigest\)"):
        default.put_object(Bucket="lenient", Key="bad", Body=b"data", ChecksumCRC32=crc32_b64(b"other"))


def test_aws_chunked_uploads_decoded_when_not_rejecting(
    store, start_server, make_client, tls_files, tls_context, tmp_path
):
    server = start_server(store, reject_streaming_checksums=False, ssl_context=tls_context)
    default = make_client(server.endpoint, checksums=True, verify=str(tls_files[0]))
    default.create_bucket(Bucket="chunked")
    body = os.urandom(3 * MiB + 7)  # several aws-chunked chunks
    default.put_object(Bucket="chunked", Key="put", Body=body)
    default.put_object(Bucket="chunked", Key="stream", Body=io.BytesIO(b"from a stream"))
    assert default.get_object(Bucket="chunked", Key="put")["Body"].read() == body
    assert default.get_object(Bucket="chunked", Key="stream")["Body"].read() == b"from a stream"

    source = tmp_path / "multi.bin"
    source.write_bytes(os.urandom(11 * MiB))
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, preferred_transfer_client="classic")
    default.upload_file(str(source), "chunked", "multi.bin", Config=transfer)
    target = tmp_path / "multi.back"
    default.download_file("chunked", "multi.bin", str(target), Config=transfer)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


# ----- hand-signed requests -----------------------------------------------------------------


def _send(endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _signed_put(endpoint: str, path: str, payload_hash: str, body: bytes, extra: dict[str, str] | None = None):
    signer = Signer(*ACCOUNT)
    headers = signer.headers("PUT", path, urlsplit(endpoint).netloc, payload_hash, extra or {})
    return signer, headers


def test_payload_hash_mismatch(server, client, bucket):
    path = f"/{bucket}/tampered"
    _, headers = _signed_put(server.endpoint, path, hashlib.sha256(b"declared").hexdigest(), b"")
    status, body = _send(server.endpoint, "PUT", path, headers, b"actually sent")
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    _, headers = _signed_put(server.endpoint, path, hashlib.sha256(b"declared").hexdigest(), b"")
    assert _send(server.endpoint, "PUT", path, headers, b"declared")[0] == 200
    assert client.get_object(Bucket=bucket, Key="tampered")["Body"].read() == b"declared"


def _streaming_put(endpoint, path, chunks, *, corrupt=False, trailer=False):
    data = b"".join(chunks)
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        extra["x-amz-trailer"] = "x-amz-checksum-crc32"
    signer, headers = _signed_put(endpoint, path, mode, b"", extra)
    encoded = signer.chunked(chunks, b"x-amz-checksum-crc32:" + crc32_b64(data).encode() if trailer else None)
    if corrupt:
        encoded = encoded.replace(chunks[0][:8], b"XXXXXXXX", 1)
    headers["content-length"] = str(len(encoded))
    return _send(endpoint, "PUT", path, headers, encoded)


@pytest.mark.parametrize("trailer", [False, True])
def test_signed_aws_chunked_bodies(store, start_server, make_client, trailer):
    server = start_server(store, reject_streaming_checksums=False)
    client = make_client(server.endpoint)
    client.create_bucket(Bucket="signed")
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), b"last bit"]
    status, body = _streaming_put(server.endpoint, "/signed/obj", chunks, trailer=trailer)
    assert status == 200, body
    assert client.get_object(Bucket="signed", Key="obj")["Body"].read() == b"".join(chunks)

    status, body = _streaming_put(server.endpoint, "/signed/corrupt", chunks, corrupt=True, trailer=trailer)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    with pytest.raises(ClientError, match=r"\(NoSuchKey\)"):
        client.get_object(Bucket="signed", Key="corrupt")


def test_signed_aws_chunked_refused_when_rejecting(server, bucket):
    status, body = _streaming_put(server.endpoint, f"/{bucket}/obj", [b"data"])
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body and b"when_required" in body


# ----- the decoder alone --------------------------------------------------------------------


def _unsigned(chunks: list[bytes], trailer: bytes | None) -> io.BytesIO:
    parts = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] + [b"0\r\n"]
    if trailer is not None:
        parts.append(trailer + b"\r\n")
    return io.BytesIO(b"".join(parts) + b"\r\n")


def test_decoder_unsigned_with_and_without_trailer():
    raw = _unsigned([b"hello ", b"world"], None)
    assert AwsChunkedReader(raw, decoded_length=11).read() == b"hello world"
    raw = _unsigned([b"hello ", b"world"], b"x-amz-checksum-crc32:" + crc32_b64(b"hello world").encode())
    reader = AwsChunkedReader(raw, trailers=["x-amz-checksum-crc32"], decoded_length=11)
    assert reader.read(4) + reader.read() == b"hello world"


@pytest.mark.parametrize(
    ("trailer", "length", "code"),
    [
        (b"x-amz-checksum-crc32:" + crc32_b64(b"other").encode(), 11, "BadDigest"),
        (b"x-amz-checksum-crc32:" + crc32_b64(b"hello world").encode(), 12, "IncompleteBody"),
        (None, 11, "MalformedTrailerError"),
    ],
)
def test_decoder_rejects_bad_bodies(trailer, length, code):
    reader = AwsChunkedReader(
        _unsigned([b"hello ", b"world"], trailer), trailers=["x-amz-checksum-crc32"], decoded_length=length
    )
    with pytest.raises(BucketError) as err:
        reader.read()
    assert err.value.code == code
