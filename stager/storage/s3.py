"""Where a dataset lives in Object Storage, and the one way stager makes S3 clients.

Every boto3 client stager uses comes from :func:`make_client` and every managed
transfer from :func:`transfer_config`, because two boto3 defaults break against
Linode Object Storage:

- boto3 1.36 and later add CRC32 checksums to uploads, which Linode rejects
  (``XAmzContentSHA256Mismatch``); checksums are sent and checked only when
  an operation requires them.
- the CRT transfer client ignores ``endpoint_url`` and would send the data to
  AWS; the classic (s3transfer) client is pinned.

Path-style addressing is used everywhere: Linode accepts it, bucket names with
dots keep working over TLS, and the local emulator understands nothing else.

A client made here for an explicit endpoint also gets a :class:`PutSender`
(``put_sender(client)``): the same endpoint, keys, region, timeouts, retries
and CA bundle, for small PutObject requests without botocore's per-request
CPU (see ``fastput.py``).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stager.errors import UsageError

if TYPE_CHECKING:
    from stager.storage.fastput import PutSender

__all__ = [
    "MAX_PARTS", "MAX_PART_SIZE", "MAX_SINGLE_PUT", "MIN_PART_SIZE", "MULTIPART_CHUNKSIZE", "MULTIPART_THRESHOLD",
    "S3Location", "S3Settings", "make_client", "put_sender", "transfer_config",
]

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # every multipart part but the last (S3 and Linode)
MAX_PART_SIZE = 5 * 1024 * MIB  # 5 GiB per part
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * 10**9  # one PutObject; anything larger must be multipart

# A file below the threshold is one PutObject (read into memory and hashed on the
# way); above it, parts go up in parallel. An 8 MiB threshold bounds the memory of
# many concurrent small uploads (threads x 8 MiB). Parts of 16 MiB take half the
# requests of s3transfer's 8 MiB default: each request costs a round trip and
# counts against Linode's per-bucket request rate, and they measured faster.
# s3transfer grows the part size for files that would need more than MAX_PARTS.
MULTIPART_THRESHOLD = 8 * MIB
MULTIPART_CHUNKSIZE = 16 * MIB
TRANSFER_CONCURRENCY = 10  # parts in flight at once; more did not go faster against one endpoint, only busier
DEFAULT_MAX_POOL = 32  # HTTP connections per client: the small-file upload threads share them
DEFAULT_RETRIES = 5  # retries after a request's first try, in botocore's "standard" mode (backoff with jitter)
# botocore sends every upload body with "Expect: 100-continue", so each PUT waits a
# round trip for permission before sending. For a body this small the wait costs
# more than sending it outright (and an endpoint that refuses reads it anyway),
# which halves a small file's upload time over a WAN. Parts of a multipart upload
# go outright at any size: CreateMultipartUpload has already shown that the keys
# may write there, which is all the asking would find out.
SEND_OUTRIGHT_UP_TO = 1 * MIB

# The PutSender of each client make_client made, for as long as the client lives.
_put_senders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_URL_FORM = "s3://bucket/prefix"


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix: where one dataset's objects live.

    Objects are ``<prefix>/<relative path>``; stager's own records for the
    prefix live under ``<prefix>/.stager/``, which no dataset file can clash with
    (dataset files never start with a dot).
    """

    bucket: str
    prefix: str  # without leading or trailing "/"; "" for the bucket's root

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket`` or ``s3://bucket/some/prefix`` (a trailing slash is ignored).

        Not supported: ``https://`` object URLs, virtual-host names, access-point
        ARNs, and prefixes with empty, ``.``/``..`` or dot-led segments.

        Raises:
            UsageError: anything else, named with the expected form.
        """
        if not isinstance(url, str) or not url.startswith("s3://"):
            raise UsageError(f"{url!r} is not an S3 URL: expected {_URL_FORM}")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise UsageError(f"{url!r} names no bucket: expected {_URL_FORM}")
        if not _BUCKET.match(bucket) or ".." in bucket or _IP_LIKE.match(bucket):
            raise UsageError(f"{url!r}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, "
                             "dots and dashes, starting and ending with a letter or digit)")
        prefix = prefix.rstrip("/")
        if prefix:
            segments = prefix.split("/")
            if any(s in ("", ".", "..") for s in segments):
                raise UsageError(f"{url!r}: the prefix has an empty, '.' or '..' segment")
            if any(s.startswith(".") for s in segments):
                raise UsageError(f"{url!r}: a prefix segment may not start with a dot "
                                 "(stager keeps its own records under .stager/)")
            if any(ord(c) < 32 or c == "\\" for c in prefix):
                raise UsageError(f"{url!r}: the prefix holds a control character or a backslash")
        return cls(bucket, prefix)

    @property
    def list_prefix(self) -> str:
        """What a listing of this location's objects filters on: ``prefix/`` (or "" for the root)."""
        return f"{self.prefix}/" if self.prefix else ""

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a dataset path, POSIX separators) under this prefix."""
        return self.list_prefix + relative

    def relative(self, key: str) -> str:
        """The dataset path of an object key listed under this prefix."""
        return key[len(self.list_prefix):]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class S3Settings:
    """How to reach an S3-compatible endpoint. The keys never appear in a repr."""

    endpoint_url: str | None  # e.g. https://us-east-1.linodeobjects.com; None: AWS's own endpoints
    region: str | None  # the signing region (Linode: the cluster id, e.g. us-east-1)
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)


def client_config(*, max_pool: int = DEFAULT_MAX_POOL, retries: int = DEFAULT_RETRIES,
                  connect_timeout: float = 10.0, read_timeout: float = 120.0):
    """The botocore ``Config`` of every stager S3 client (see the module docstring for why)."""
    from botocore.config import Config

    import stager

    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max_pool,
        retries={"mode": "standard", "max_attempts": retries},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra=f"stager/{stager.__version__}",
    )


def make_client(settings: S3Settings, *, max_pool: int = DEFAULT_MAX_POOL, retries: int = DEFAULT_RETRIES,
                connect_timeout: float = 10.0, read_timeout: float = 120.0):
    """A boto3 S3 client for ``settings``; the only way stager makes one.

    ``max_pool`` bounds the HTTP connections (and so the useful upload threads);
    ``retries`` is botocore's retries after a first try, throttling and 5xx included.
    A private boto3 session is used, so the keys given win over any profile,
    environment variable or ``~/.aws`` file; explicit configuration here also wins
    over ``AWS_REQUEST_CHECKSUM_CALCULATION`` and friends.

    Raises:
        UsageError: a malformed endpoint URL.
    """
    import boto3.session
    import botocore.session

    config = client_config(max_pool=max_pool, retries=retries, connect_timeout=connect_timeout,
                           read_timeout=read_timeout)
    core = botocore.session.get_session()
    # botocore parses each listed object's LastModified with dateutil, which is most of
    # the time a 10,000-object listing takes (a no-op re-sync); ISO 8601 parses directly.
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_parse_timestamp)
    try:
        client = boto3.session.Session(botocore_session=core).client(
            "s3", endpoint_url=settings.endpoint_url, region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key, aws_secret_access_key=settings.secret_key, config=config)
    except ValueError as exc:  # botocore's "Invalid endpoint: ..."
        raise UsageError(f"cannot use the S3 endpoint {settings.endpoint_url!r}: {exc}") from None
    # On "before-call.s3" itself, last: botocore adds the header in a handler there, and
    # handlers of a more specific event name would run before it.
    client.meta.events.register_last("before-call.s3", _send_bodies_outright, unique_id="stager-send-bodies-outright")
    sender = _lean_sender(settings, client, core, retries=retries, max_pool=max_pool)
    if sender is not None:
        _put_senders[client] = sender
    return client


def put_sender(client) -> PutSender | None:
    """The :class:`PutSender` that ``make_client`` gave ``client``; None for any other client, or when
    the endpoint is AWS's own or reached through a proxy (botocore then sends every request)."""
    return _put_senders.get(client)


def _lean_sender(settings: S3Settings, client, core, *, retries: int, max_pool: int) -> PutSender | None:
    """A PutSender that reaches what ``client`` reaches, as botocore would: same TLS trust, same tries."""
    import os
    import sys

    from botocore.httpsession import get_cert_path
    from botocore.utils import get_environ_proxies

    import stager
    from stager.storage.fastput import PutSender, PutTarget

    endpoint = client.meta.endpoint_url
    if settings.endpoint_url is None or get_environ_proxies(endpoint).get(endpoint.partition(":")[0]):
        return None
    config = client.meta.config
    # botocore's order: the ca_bundle setting (AWS_CA_BUNDLE, profile), then
    # REQUESTS_CA_BUNDLE, then its own default bundle.
    verify = core.get_config_variable("ca_bundle") or os.environ.get("REQUESTS_CA_BUNDLE") or True
    target = PutTarget(
        endpoint_url=endpoint, region=client.meta.region_name, access_key=settings.access_key,
        secret_key=settings.secret_key, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
        attempts=retries + 1,  # botocore's max_attempts counts the retries, after the first try
        ca_bundle=get_cert_path(verify), user_agent=f"stager/{stager.__version__} Python/{sys.version.split()[0]}")
    try:
        return PutSender(target, max_idle=max_pool)
    except ValueError:
        return None  # an endpoint botocore took but PutSender does not: botocore sends everything


def _parse_timestamp(value):
    """An S3 timestamp as an aware datetime: ISO 8601 (listings) directly, other forms (HTTP dates) by botocore."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        from botocore.utils import parse_timestamp

        return parse_timestamp(value)


def _send_bodies_outright(model, params, **kwargs) -> None:
    """Drop botocore's ``Expect: 100-continue`` from parts, and from PutObject bodies up to SEND_OUTRIGHT_UP_TO."""
    from botocore.utils import determine_content_length

    headers = params.get("headers") or {}
    if "Expect" not in headers:
        return
    if model.name == "UploadPart":
        del headers["Expect"]
    elif model.name == "PutObject" and params.get("body") is not None:
        size = determine_content_length(params["body"])
        if size is not None and size <= SEND_OUTRIGHT_UP_TO:
            del headers["Expect"]


def transfer_config(*, multipart_threshold: int = MULTIPART_THRESHOLD, multipart_chunksize: int = MULTIPART_CHUNKSIZE,
                    max_concurrency: int = TRANSFER_CONCURRENCY):
    """The ``TransferConfig`` of every managed (multipart) transfer: classic client pinned.

    Raises:
        UsageError: a chunk size outside 5 MiB-5 GiB, a threshold outside 1 byte-5 GB
            (one PUT's limit), or a concurrency below 1.
    """
    from boto3.s3.transfer import TransferConfig

    if not MIN_PART_SIZE <= multipart_chunksize <= MAX_PART_SIZE:
        raise UsageError(f"multipart chunk size {multipart_chunksize} is outside S3's 5 MiB-5 GiB part limits")
    if not 1 <= multipart_threshold <= MAX_SINGLE_PUT:
        raise UsageError(f"multipart threshold {multipart_threshold} must be between 1 byte and 5 GB")
    if max_concurrency < 1:
        raise UsageError("transfer concurrency must be at least 1")
    return TransferConfig(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=multipart_chunksize,
        max_concurrency=max_concurrency,
        use_threads=True,
        preferred_transfer_client="classic",
    )


def pool_size(client) -> int:
    """How many connections ``client`` keeps: the most requests worth running at once."""
    return int(client.meta.config.max_pool_connections or DEFAULT_MAX_POOL)
