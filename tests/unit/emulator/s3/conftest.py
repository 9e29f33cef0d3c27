"""Fixtures: a real S3Server on loopback over a temp data_dir, and real boto3 clients."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from s3_keys import ACCOUNT, DATA_BUCKET, READ_ONLY, READ_WRITE

from stager.emulator.s3 import BucketStore, Grant, S3Server


@pytest.fixture
def keys() -> dict[str, Grant]:
    """Access key -> Grant, as the Linode API side of the emulator would hold them."""
    return {
        ACCOUNT[0]: Grant(ACCOUNT[1]),
        READ_ONLY[0]: Grant(READ_ONLY[1], {DATA_BUCKET: "read_only"}),
        READ_WRITE[0]: Grant(READ_WRITE[1], {DATA_BUCKET: "read_write"}),
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "s3-data"


@pytest.fixture
def store(data_dir: Path) -> BucketStore:
    return BucketStore(data_dir)


@pytest.fixture
def start_server(keys):
    """Factory: start an S3Server (stopped at teardown)."""
    servers = []

    def start(store: BucketStore, **kwargs) -> S3Server:
        server = S3Server(store, keys.get, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(store, start_server) -> S3Server:
    return start_server(store)


def s3_config(*, checksums: bool = False, **kwargs) -> Config:
    """The client configuration stager uses; ``checksums=True`` leaves boto3's defaults."""
    extra = {} if checksums else {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    return Config(signature_version="s3v4", s3={"addressing_style": "path"}, **extra, **kwargs)


@pytest.fixture
def make_client():
    def make(endpoint: str, key: tuple[str, str] = ACCOUNT, *, checksums: bool = False, verify=None, **config):
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            region_name="us-east-1",
            config=s3_config(checksums=checksums, **config),
            verify=verify,
        )

    return make


@pytest.fixture
def client(server, make_client):
    return make_client(server.endpoint)


@pytest.fixture
def bucket(client) -> str:
    client.create_bucket(Bucket=DATA_BUCKET)
    return DATA_BUCKET


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), so boto3 talks HTTPS as to Linode."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stager-s3-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_context(tls_files) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context
