"""Small PUTs signed by stager itself, against an endpoint that checks SigV4 and the payload hash (the emulator's)."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl

import pytest
from storage_testdata import assert_one_line_without, manifest_of, quiet, write_files

from stager.errors import JobFailed, UsageError
from stager.storage.errors import s3_call
from stager.storage.progress import TransferProgress
from stager.storage.s3 import S3Location, S3Settings, make_client, put_sender, transfer_config
from stager.storage.sync import sync_dataset
from stager.storage.upload import Uploader

# Names a dataset may well hold; each is escaped in the path and signed as sent.
AWKWARD = {
    "with space/a b.bin": b"space",
    "plus+equals=amp&.bin": b"plus",
    "tilde~and,comma;semi.bin": b"tilde",
    "unicodé/日本語.npy": b"unicode",
    "brackets[1](2)!$'@.bin": b"brackets",
    "percent%20not-a-space.bin": b"percent",
}


def upload(client, root, location, entries) -> dict[str, str]:
    with TransferProgress("sending", files=len(entries), total_bytes=0, enabled=False, say=quiet) as bar:
        return Uploader(client, root, location, config=transfer_config(), progress=bar).run(entries)


def test_awkward_names_go_up_signed_by_stager_and_read_back_through_botocore(tmp_path, client, location,
                                                                            requests_sent):
    root = tmp_path / "data"
    write_files(root, AWKWARD)
    manifest = manifest_of(root)

    result = sync_dataset(root, manifest, location, client, say=quiet)

    assert sorted(result.sent) == sorted(AWKWARD) and result.verified == len(AWKWARD)
    assert requests_sent.lean["PutObject"] == len(AWKWARD)  # all by the PutSender; the manifest by botocore
    assert requests_sent["PutObject"] == len(AWKWARD) + 1
    for path, body in AWKWARD.items():
        got = client.get_object(Bucket=location.bucket, Key=location.key(path))
        assert got["Body"].read() == body
        assert got["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    requests_sent.reset()
    assert sync_dataset(root, manifest_of(root), location, client, say=quiet).sent == []
    assert requests_sent.writes == 0


def test_the_recorded_etag_is_the_one_the_listing_shows(dataset, client, location):
    manifest = manifest_of(dataset)
    etags = upload(client, dataset, location, manifest.files)

    listed = {location.relative(o["Key"]): o["ETag"].strip('"') for o in
              client.list_objects_v2(Bucket=location.bucket, Prefix=location.list_prefix)["Contents"]}
    assert etags == listed
    for entry in manifest.files:  # a single PUT's ETag is the body's MD5, as botocore would have seen it
        assert etags[entry.path] == hashlib.md5((dataset / entry.path).read_bytes()).hexdigest()


def test_the_endpoint_checks_the_body_against_the_manifests_sha256(client, location):
    sender = put_sender(client)
    wrong = hashlib.sha256(b"what the manifest said").hexdigest()

    with pytest.raises(JobFailed, match="XAmzContentSHA256Mismatch"):
        s3_call(lambda: sender.put(location.bucket, location.key("x.bin"), b"other bytes", wrong),
                action="uploading", where="s3://x", endpoint=None, bucket=location.bucket)
    assert "Contents" not in client.list_objects_v2(Bucket=location.bucket, Prefix=location.list_prefix)


def test_refused_keys_missing_buckets_and_read_only_keys_are_one_line_usage_errors(dataset, emulator, bucket,
                                                                                   s3_key):
    from linode_api4.groups.object_storage import ObjectStorageGroup

    manifest = manifest_of(dataset)
    wrong = S3Settings(emulator.s3_endpoint, "us-east-1", s3_key.access_key, "not-the-secret-" + "x" * 25)
    right = S3Settings(emulator.s3_endpoint, "us-east-1", s3_key.access_key, s3_key.secret_key)
    access = [ObjectStorageGroup.bucket_access("us-east", bucket, "read_only")]
    reader = emulator.client().object_storage.keys_create("reader", bucket_access=access)
    read_only = S3Settings(emulator.s3_endpoint, "us-east-1", reader.access_key, reader.secret_key)
    cases = [
        (wrong, bucket, r"refused the Object Storage keys \(SignatureDoesNotMatch\)"),
        (right, "no-such-bucket", "bucket no-such-bucket does not exist"),
        (read_only, bucket, "access denied to s3://"),
    ]
    for settings, bucket_name, words in cases:
        client = make_client(settings)
        sent = []
        put_sender(client).on_send.append(sent.append)
        with pytest.raises(UsageError, match=words) as caught:
            upload(client, dataset, S3Location.parse(f"s3://{bucket_name}/x"), manifest.files)
        assert sent, "the small PUTs should have gone through the PutSender"
        assert_one_line_without(caught.value, settings.secret_key, s3_key.secret_key, reader.secret_key)


# -- over TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stager-storage-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_endpoint(emulator, bucket, tls_files):
    """The emulator's buckets and keys behind an HTTPS endpoint of their own."""
    from stager.emulator.s3 import S3Server

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    storage = emulator.backend.object_storage
    server = S3Server(storage.store, storage.grant, ssl_context=context)
    server.start()
    yield server.endpoint
    server.stop()


def test_over_https_small_puts_verify_the_certificate_and_keep_connections(dataset, tls_endpoint, tls_files,
                                                                         s3_key, monkeypatch):
    settings = S3Settings(tls_endpoint, "us-east-1", s3_key.access_key, s3_key.secret_key)
    location = S3Location.parse("s3://stager-sync/over-tls")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_files[0]))  # trusted by botocore and the PutSender alike
    client = make_client(settings)
    sent = []
    put_sender(client).on_send.append(sent.append)

    result = sync_dataset(dataset, manifest_of(dataset), location, client, say=quiet)

    assert len(result.sent) == 24 and len(sent) == 24 and sent[0].url.startswith("https://127.0.0.1:")
    assert client.head_object(Bucket="stager-sync", Key=location.key(result.sent[0]))["Metadata"]["sha256"]

    monkeypatch.delenv("AWS_CA_BUNDLE")  # a certificate nobody vouches for is refused, and not retried
    untrusting = put_sender(make_client(settings))
    tries = []
    untrusting.on_send.append(tries.append)
    with pytest.raises(JobFailed, match=r"cannot reach the S3 endpoint .* \(SSLError\)"):
        s3_call(lambda: untrusting.put("stager-sync", "k", b"x", hashlib.sha256(b"x").hexdigest()),
                action="uploading", where="s3://stager-sync/k", endpoint=tls_endpoint, bucket="stager-sync")
    assert len(tries) == 1
