"""Sending dataset files to a prefix: small files as single PUTs, large ones as parallel multipart uploads.

Every object goes up with its sha256 in its metadata, and only once the file
was found to hash to the manifest's sha256, so a file edited since its
manifest was made never reaches the bucket under a hash it does not have:

- a file below the multipart threshold is read into memory, hashed, then sent
  in one PutObject from a pool of threads (one per pooled connection): the
  bytes sent are the bytes hashed. Up to ``SEND_OUTRIGHT_UP_TO`` (1 MiB) the
  PUT goes through the client's ``PutSender`` (``fastput.py``: signed here,
  botocore's per-request CPU spared, the manifest's sha256 as the payload hash
  the endpoint checks); larger ones, and every PUT of a client ``make_client``
  did not make, go through botocore;
- a larger file is hashed first (or, given the hash cache the manifest was made
  with, taken from it while its size, mtime and inode are unchanged), then sent
  by s3transfer (the classic client) in parallel parts; a hook refuses
  CompleteMultipartUpload when the file's size, mtime or inode changed since,
  so the upload is aborted instead of completed (the hash cache's own rule).

PutObject and CompleteMultipartUpload are atomic: an interrupted upload leaves
either the whole new object or nothing. On any failure or Ctrl-C, files not yet
started are dropped, PUTs in flight finish, and unfinished multipart uploads
are aborted (s3transfer's cleanup). What did finish stays: it is correct, and
the next sync skips it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import threading
from collections import deque
from pathlib import Path

from stager.errors import JobFailed, UsageError
from stager.hashing import sha256_file
from stager.storage.errors import s3_call
from stager.storage.hashcache import HashCache
from stager.storage.manifest import FileEntry
from stager.storage.parallel import parallel_map
from stager.storage.progress import TransferProgress
from stager.storage.remote import SHA256_METADATA
from stager.storage.s3 import SEND_OUTRIGHT_UP_TO, S3Location, pool_size, put_sender

__all__ = ["FileChanged", "Uploader", "abort_unfinished_uploads", "delete_objects"]

LARGE_IN_FLIGHT = 16  # large files handed to s3transfer at once: the next is hashed while these upload
_hook_ids = itertools.count()


class FileChanged(JobFailed):
    """A file's bytes are not what its manifest says: it was changed after the manifest was made."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: the file changed after its manifest was made (size or sha256 differ); "
                         "make the manifest again (`stager data validate`) and sync again")


class _CompletionGuard:
    """Client hooks: refuse to complete a multipart upload whose file changed since it was hashed; keep ETags."""

    def __init__(self, client) -> None:
        self._client = client
        self._expected: dict[str, tuple[Path, tuple]] = {}  # key -> (file, its (size, mtime, inode) when hashed)
        self.etags: dict[str, str] = {}  # key -> ETag of the completed object
        self._lock = threading.Lock()
        self._id = f"stager-upload-guard-{next(_hook_ids)}"

    def expect(self, key: str, path: Path, hashed: os.stat_result) -> None:
        with self._lock:
            self._expected[key] = (path, _identity(hashed))

    def _before_complete(self, params, context, **kwargs) -> None:
        key = params.get("Key")
        context["stager_key"] = key
        with self._lock:
            expected = self._expected.get(key)
        if expected is None:
            return
        path, identity = expected
        try:
            now = _identity(os.stat(path))
        except OSError:
            now = None
        if now != identity:
            raise FileChanged(path)

    def _after_complete(self, parsed, context, **kwargs) -> None:
        key = context.get("stager_key")
        if key is not None and parsed.get("ETag"):
            with self._lock:
                self.etags[key] = str(parsed["ETag"]).strip('"')

    def __enter__(self) -> _CompletionGuard:
        events = self._client.meta.events
        events.register("before-parameter-build.s3.CompleteMultipartUpload", self._before_complete,
                        unique_id=self._id + "-before")
        events.register("after-call.s3.CompleteMultipartUpload", self._after_complete, unique_id=self._id + "-after")
        return self

    def __exit__(self, *exc) -> None:
        events = self._client.meta.events
        events.unregister("before-parameter-build.s3.CompleteMultipartUpload", unique_id=self._id + "-before")
        events.unregister("after-call.s3.CompleteMultipartUpload", unique_id=self._id + "-after")


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


class Uploader:
    """Sends manifest entries from ``root`` to ``location``; ``etags`` says what finished, even after a failure."""

    def __init__(self, client, root: Path, location: S3Location, *, config, progress: TransferProgress,
                 cache: HashCache | None = None) -> None:
        self.client = client
        self.root = Path(root)
        self.location = location
        self.config = config  # boto3 TransferConfig, classic client pinned
        self.progress = progress
        self.cache = cache  # the hash cache the manifest was made with: spares hashing large files again
        self.etags: dict[str, str] = {}  # dataset path -> ETag of the object this upload created
        self._lock = threading.Lock()

    def run(self, entries: list[FileEntry]) -> dict[str, str]:
        """Send every entry; return ``etags``. On an exception (Ctrl-C included) stop as the module says, then raise.

        Raises:
            FileChanged: a file's bytes differ from its manifest entry (nothing stored under its hash).
            UsageError: a file cannot be read; the keys are refused or read-only; the bucket is gone.
            JobFailed: the endpoint does not answer, or fails after retries.
            KeyboardInterrupt: Ctrl-C (or SIGTERM inside ``interruptible()``).
        """
        threshold = self.config.multipart_threshold
        small = [e for e in entries if e.size < threshold]
        large = [e for e in entries if e.size >= threshold]
        with _CompletionGuard(self.client) as guard:
            if small:
                self._send_small(small)
            if large:
                self._send_large(large, guard)
        return self.etags

    # -- small files: one PUT each ---------------------------------------------------------

    def _send_small(self, entries: list[FileEntry]) -> None:
        # A failure or Ctrl-C drops the files not started; PUTs in flight finish, atomically.
        sender = put_sender(self.client)
        try:
            parallel_map(lambda e: self._put(e, sender), entries, threads=pool_size(self.client), name="stager-put")
        finally:
            if sender is not None:
                sender.close()  # its idle connections; a later sync opens its own

    def _put(self, entry: FileEntry, sender) -> None:
        path = self.root / entry.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise FileChanged(path)
        bucket, key = self.location.bucket, self.location.key(entry.path)
        metadata = {SHA256_METADATA: entry.sha256}
        if sender is not None and len(data) <= SEND_OUTRIGHT_UP_TO:
            def send() -> str:
                return sender.put(bucket, key, data, entry.sha256, metadata)
        else:
            def send() -> str:
                return self.client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata).get("ETag")
        etag = s3_call(send, action="uploading", where=f"s3://{bucket}/{key}", endpoint=self.client.meta.endpoint_url,
                       bucket=bucket)
        with self._lock:
            self.etags[entry.path] = str(etag or "").strip('"')
        self.progress.advance(entry.size, files=1)

    # -- large files: multipart through s3transfer ---------------------------------------------

    def _send_large(self, entries: list[FileEntry], guard: _CompletionGuard) -> None:
        from boto3.s3.transfer import create_transfer_manager

        finished: queue.Queue = queue.Queue()  # (future, entry) as s3transfer reports them done
        pending = deque(entries)
        in_flight: set[str] = set()
        # Leaving this block with an exception cancels every transfer in progress and
        # aborts its multipart upload (TransferManager.__exit__); leaving it normally waits.
        with create_transfer_manager(self.client, self.config) as manager:
            while pending or in_flight:
                while pending and len(in_flight) < LARGE_IN_FLIGHT:
                    entry = pending.popleft()
                    self._submit_large(manager, entry, guard, finished)  # hashes the next while others upload
                    in_flight.add(entry.path)
                future, entry = finished.get()
                in_flight.discard(entry.path)
                self._finish_large(future, entry, guard)

    def _submit_large(self, manager, entry: FileEntry, guard: _CompletionGuard, finished: queue.Queue) -> None:
        from s3transfer.subscribers import BaseSubscriber

        path = self.root / entry.path
        try:
            st = os.stat(path)
            digest = self.cache.sha256(path, st) if self.cache is not None else sha256_file(path)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if st.st_size != entry.size or digest != entry.sha256:
            raise FileChanged(path)
        key = self.location.key(entry.path)
        guard.expect(key, path, st)
        progress = self.progress

        class Report(BaseSubscriber):
            def on_queued(self, future, **kwargs):
                future.meta.provide_transfer_size(entry.size)  # known: no stat by s3transfer

            def on_progress(self, future, bytes_transferred, **kwargs):
                progress.advance(bytes_transferred)

            def on_done(self, future, **kwargs):
                finished.put((future, entry))

        manager.upload(str(path), self.location.bucket, key,
                       extra_args={"Metadata": {SHA256_METADATA: entry.sha256}}, subscribers=[Report()])

    def _finish_large(self, future, entry: FileEntry, guard: _CompletionGuard) -> None:
        key = self.location.key(entry.path)
        s3_call(future.result, action="uploading", where=f"s3://{self.location.bucket}/{key}",
                endpoint=self.client.meta.endpoint_url, bucket=self.location.bucket)
        with self._lock:
            self.etags[entry.path] = guard.etags.get(key, "")
        self.progress.advance(files=1)


def delete_objects(client, location: S3Location, paths: list[str]) -> None:
    """Delete the objects of ``paths`` (one DeleteObject each, in parallel; S3 answers the same for a missing one).

    One request per object rather than DeleteObjects: the batch call needs a
    Content-MD5 that botocore no longer sends, and S3-compatible stores differ on it.

    Raises:
        UsageError: the keys are refused or read-only.
        JobFailed: the endpoint does not answer, or fails.
    """
    def delete(path: str) -> None:
        key = location.key(path)
        s3_call(lambda: client.delete_object(Bucket=location.bucket, Key=key), action="deleting",
                where=f"s3://{location.bucket}/{key}", endpoint=client.meta.endpoint_url, bucket=location.bucket)

    parallel_map(delete, paths, threads=pool_size(client), name="stager-delete")


def abort_unfinished_uploads(client, location: S3Location) -> int:
    """Abort multipart uploads left unfinished under ``location`` (a sync killed outright); return how many.

    Their parts are invisible but stored (and billed). Two syncs to one prefix at
    the same time are not supported: this would abort the other's uploads.

    Raises:
        UsageError: the keys are refused.
        JobFailed: the endpoint does not answer, or fails.
    """
    where, endpoint = str(location), client.meta.endpoint_url

    def unfinished() -> list[tuple[str, str]]:
        found = []
        paginator = client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.list_prefix):
            found += [(u["Key"], u["UploadId"]) for u in page.get("Uploads") or ()]
        return found

    uploads = s3_call(unfinished, action="listing unfinished uploads under", where=where, endpoint=endpoint,
                      bucket=location.bucket)
    for key, upload_id in uploads:
        s3_call(lambda k=key, u=upload_id: client.abort_multipart_upload(Bucket=location.bucket, Key=k, UploadId=u),
                action="aborting an unfinished upload", where=f"s3://{location.bucket}/{key}", endpoint=endpoint,
                bucket=location.bucket)
    return len(uploads)
