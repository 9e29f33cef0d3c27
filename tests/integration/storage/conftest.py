"""A bucket on the session's emulator, a stager S3 client for it, a request counter and dataset folders."""

from __future__ import annotations

import collections
import threading
from pathlib import Path

import pytest
from storage_testdata import small_files, write_files

from stager.storage.s3 import S3Location, S3Settings, make_client, put_sender

BUCKET = "stager-sync"


@pytest.fixture
def s3_key(emulator):
    """An unlimited Object Storage key made through the emulator's Linode API."""
    return emulator.client().object_storage.keys_create("storage-tests")


@pytest.fixture
def settings(emulator, s3_key) -> S3Settings:
    return S3Settings(emulator.s3_endpoint, "us-east-1", s3_key.access_key, s3_key.secret_key)


@pytest.fixture
def bucket(emulator) -> str:
    emulator.client().object_storage.bucket_create("us-east", BUCKET)
    return BUCKET


@pytest.fixture
def client(settings, bucket):
    """The client stager would use (``make_client``), for a bucket that exists."""
    return make_client(settings)


@pytest.fixture
def location(bucket) -> S3Location:
    return S3Location.parse(f"s3://{bucket}/datasets/demo")


class RequestLog:
    """Counts the S3 operations a client sends, as they go on the wire (every attempt).

    Two sources: botocore's ``before-send`` event, and the ``on_send`` hook of the
    client's PutSender, which sends small PUTs without botocore. ``lean`` counts the
    latter alone. Requests come from many threads at once.
    """

    def __init__(self, client) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.lean: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3", self._count, unique_id="storage-test-request-log")
        sender = put_sender(client)
        if sender is not None:
            sender.on_send.append(self._count_lean)

    def _count(self, event_name: str, **kwargs) -> None:
        with self._lock:
            self.counts[event_name.rsplit(".", 1)[-1]] += 1

    def _count_lean(self, request) -> None:
        with self._lock:
            self.counts[request.operation] += 1
            self.lean[request.operation] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.lean.clear()

    def __getitem__(self, operation: str) -> int:
        return self.counts[operation]

    @property
    def writes(self) -> int:
        return sum(self.counts[op] for op in ("PutObject", "CreateMultipartUpload", "UploadPart",
                                              "CompleteMultipartUpload", "DeleteObject", "CopyObject"))


@pytest.fixture
def requests_sent(client) -> RequestLog:
    return RequestLog(client)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A dataset of 24 small files (plus a dot-file, which is not data)."""
    root = tmp_path / "data"
    write_files(root, small_files(24))
    (root / ".DS_Store").write_bytes(b"not data")
    return root
