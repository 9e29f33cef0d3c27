"""stager's SigV4 signer and small PUTs against botocore's: the same request, byte for byte, at a frozen time."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from stager.storage import fastput
from stager.storage.s3 import S3Settings, make_client, put_sender
from stager.storage.sigv4 import Signer, amz_date, quote_key

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
FROZEN = datetime.datetime(2024, 2, 29, 23, 59, 58)
FROZEN_AMZ = "20240229T235958Z"
KEYS = ["plain/file.bin", "with space/and+plus.bin", "tilde~and=equals&amp;.bin", "unicodé/日本語.npy",
        "brackets[1](2)!$',;@:.bin", "percent%20literal.bin"]


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FROZEN)
    monkeypatch.setattr(fastput, "amz_date", lambda: FROZEN_AMZ)


def botocore_authorization(method: str, url: str, headers: dict[str, str], body: bytes, region: str,
                           params: dict | None = None) -> str:
    request = AWSRequest(method=method, url=url, headers=headers, data=body, params=params or {})
    S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", region).add_auth(request)
    return request.headers["Authorization"]


def test_amz_date_is_sigv4s_basic_iso8601_in_utc():
    assert amz_date(1709251198) == FROZEN_AMZ


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("endpoint, host, region", [
    ("http://127.0.0.1:9000", "127.0.0.1:9000", "us-east-1"),
    ("https://us-ord-1.objects.localhost", "us-ord-1.objects.localhost", "us-ord-1"),
])
def test_a_put_is_signed_as_botocore_signs_it(frozen, key, endpoint, host, region):
    body = b"some bytes of a dataset file\n" * 10
    sha256 = hashlib.sha256(body).hexdigest()
    path = f"/bucket/{quote_key(key)}"
    signed = {"host": host, "x-amz-content-sha256": sha256, "x-amz-date": FROZEN_AMZ, "x-amz-meta-sha256": sha256}

    ours = Signer(ACCESS, SECRET, region).authorization("PUT", path, [], signed, sha256, FROZEN_AMZ)

    theirs = botocore_authorization("PUT", endpoint + path, {"x-amz-meta-sha256": sha256}, body, region)
    assert ours == theirs


def test_a_query_string_is_canonicalised_as_botocore_does(frozen):
    params = {"list-type": "2", "prefix": "a b/ü", "max-keys": "1000", "continuation-token": "x+y=/z"}
    signed = {"host": "127.0.0.1:9000", "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
              "x-amz-date": FROZEN_AMZ}

    ours = Signer(ACCESS, SECRET, "us-east-1").authorization("GET", "/bucket", list(params.items()), signed,
                                                             signed["x-amz-content-sha256"], FROZEN_AMZ)

    assert ours == botocore_authorization("GET", "http://127.0.0.1:9000/bucket", {}, b"", "us-east-1", params)


def test_the_signing_key_follows_the_day():
    signer = Signer(ACCESS, SECRET, "us-east-1")
    headers = {"host": "h", "x-amz-content-sha256": "e" * 64}
    one = signer.authorization("PUT", "/b/k", [], {**headers, "x-amz-date": "20240101T000000Z"}, "e" * 64,
                               "20240101T000000Z")
    two = signer.authorization("PUT", "/b/k", [], {**headers, "x-amz-date": "20240102T000000Z"}, "e" * 64,
                               "20240102T000000Z")
    assert "20240101/us-east-1/s3" in one and "20240102/us-east-1/s3" in two
    assert Signer(ACCESS, SECRET, "us-east-1").authorization(
        "PUT", "/b/k", [], {**headers, "x-amz-date": "20240102T000000Z"}, "e" * 64, "20240102T000000Z") == two
    assert SECRET not in repr(signer) and ACCESS not in repr(signer)


def offline_sender(client) -> tuple[fastput.PutSender, list[fastput.SentRequest]]:
    """``client``'s PutSender, trying once and never connecting; and the list of what it would have sent."""
    sender = put_sender(client)
    sent: list[fastput.SentRequest] = []
    sender.on_send.append(sent.append)
    sender.target = dataclasses.replace(sender.target, attempts=1)

    def refuse():
        raise ConnectionRefusedError

    sender._take = refuse
    return sender, sent


def captured_botocore_put(client, bucket: str, key: str, body: bytes, metadata: dict[str, str]):
    """The request botocore would send for this PutObject (answered here, never sent)."""
    seen = []

    class Raw:
        def stream(self, **kwargs):
            yield b""

    def answer(request, **kwargs):
        seen.append(request)
        return AWSResponse(request.url, 200, {"ETag": '"x"'}, Raw())

    client.meta.events.register("before-send.s3.PutObject", answer, unique_id="test-capture")
    client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    return seen[0]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "https://us-ord-1.objects.localhost",
                                      "http://[::1]:9000", "http://127.0.0.1:9000/under/a/path"])
def test_the_small_put_is_the_request_make_clients_botocore_client_sends(frozen, endpoint):
    client = make_client(S3Settings(endpoint, "us-ord-1", ACCESS, SECRET))
    sender, sent = offline_sender(client)
    body = b"\x00\x01 dataset bytes" * 100
    sha256 = hashlib.sha256(body).hexdigest()

    for key in KEYS:
        sent.clear()
        with pytest.raises(Exception):  # noqa: B017 - only the request matters here
            sender.put("stager-data", key, body, sha256, {"sha256": sha256})
        theirs = captured_botocore_put(client, "stager-data", key, body, {"sha256": sha256})
        client.meta.events.unregister("before-send.s3.PutObject", unique_id="test-capture")
        ours = sent[0]
        assert ours.url == theirs.url
        their_headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in theirs.headers.items()}
        # botocore hashes the body again for x-amz-content-sha256: the manifest's sha256 is that value.
        for name in ("authorization", "x-amz-date", "x-amz-meta-sha256", "x-amz-content-sha256", "content-length"):
            assert ours.headers[name] == str(their_headers[name]), name
        assert ours.headers["x-amz-content-sha256"] == sha256
        assert "expect" not in their_headers and "expect" not in ours.headers


def test_a_small_put_sends_no_checksum_linode_rejects_and_does_not_ask_to_continue(frozen):
    client = make_client(S3Settings("http://127.0.0.1:9000", "us-east-1", ACCESS, SECRET))
    sender, sent = offline_sender(client)
    with pytest.raises(Exception):  # noqa: B017 - only the request matters here
        sender.put("b", "k", b"x", hashlib.sha256(b"x").hexdigest(), {"sha256": "s"})
    names = set(sent[0].headers)
    assert not {n for n in names if n.startswith("x-amz-checksum-")}
    assert not names & {"x-amz-sdk-checksum-algorithm", "x-amz-trailer", "content-encoding", "expect",
                        "transfer-encoding", "x-amz-decoded-content-length"}
    assert sent[0].headers["x-amz-content-sha256"] == hashlib.sha256(b"x").hexdigest()


def test_clients_without_an_endpoint_or_behind_a_proxy_leave_puts_to_botocore(monkeypatch):
    assert put_sender(make_client(S3Settings(None, "us-east-1", ACCESS, SECRET))) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert put_sender(make_client(S3Settings("https://us-ord-1.objects.localhost", "us-ord-1", ACCESS,
                                             SECRET))) is None
    assert put_sender(make_client(S3Settings("http://127.0.0.1:9000", "us-east-1", ACCESS, SECRET))) is not None


def test_the_sender_takes_the_clients_timeouts_tries_and_ca_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    client = make_client(S3Settings("https://us-ord-1.objects.localhost", "us-ord-1", ACCESS, SECRET), retries=3,
                         connect_timeout=4, read_timeout=50)
    target = put_sender(client).target
    assert (target.connect_timeout, target.read_timeout, target.attempts) == (4, 50, 4)
    assert target.ca_bundle == str(bundle) == client._endpoint.http_session._verify
    assert (target.endpoint_url, target.region) == ("https://us-ord-1.objects.localhost", "us-ord-1")
    assert SECRET not in repr(target) and ACCESS not in repr(target) and SECRET not in repr(put_sender(client))
