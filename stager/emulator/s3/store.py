"""File-backed buckets and objects: the state behind the emulator's S3 endpoint.

Layout under ``data_dir``::

    tmp/                                   spool and temp files (same filesystem: atomic renames)
    buckets/<name>/bucket.json             {"name", "region", "created"}
    buckets/<name>/meta/<hh>/<sha256>.json object sidecar, named by the sha256 of the key
    buckets/<name>/blobs/<uuid>            object contents; never modified once renamed in
    buckets/<name>/uploads/<upload id>/    multipart uploads (see multipart.py)

File names come from hashes and uuids, never from keys, so no key (``../``,
``/``, unicode, ...) can reach outside ``data_dir``; bucket names and upload ids
are validated before they become path components. An object is committed by
renaming its sidecar into place, so readers see the old object or the new one,
never a half-written one.

One ``BucketStore`` should own a ``data_dir`` at a time (it keeps an in-memory
key index per bucket); share the instance between the S3 server and the Linode
API side. Not emulated: versioning, ACLs and policies, object lock, tagging,
storage classes, per-region bucket namespaces (bucket names are unique across
the whole store), system headers other than Content-Type (Cache-Control,
Content-Disposition, ... are not stored).
"""

from __future__ import annotations

import hashlib
import os
import threading
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from . import fsutil
from .checksums import Expect, hasher_for
from .errors import BucketError
from .listing import list_page
from .multipart import MultipartMixin
from .rules import (
    DEFAULT_CONTENT_TYPE,
    MAX_PUT_SIZE,
    as_stream,
    check_key,
    check_metadata,
    is_valid_bucket_name,
    now,
)


@dataclass(frozen=True)
class BucketInfo:
    name: str
    region: str
    created: datetime  # UTC
    objects: int
    size: int  # bytes


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # without quotes; "<md5 of part md5s>-<parts>" for multipart objects
    content_type: str
    metadata: dict[str, str]  # user metadata, names lowercased and without "x-amz-meta-"
    last_modified: datetime  # UTC, millisecond precision


@dataclass(frozen=True)
class ListResult:
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None  # last key or common prefix returned; resume after it


@dataclass
class _Record:
    info: ObjectInfo
    blob: str


class _Index:
    """Sorted keys and records of one bucket, loaded from the sidecars on first use."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.records: dict[str, _Record] = {}
        self.size = 0

    def put(self, rec: _Record) -> _Record | None:
        old = self.records.get(rec.info.key)
        if old is None:
            insort(self.keys, rec.info.key)
        else:
            self.size -= old.info.size
        self.records[rec.info.key] = rec
        self.size += rec.info.size
        return old

    def pop(self, key: str) -> _Record | None:
        rec = self.records.pop(key, None)
        if rec is not None:
            del self.keys[bisect_left(self.keys, key)]
            self.size -= rec.info.size
        return rec


class BucketStore(MultipartMixin):
    """Buckets and objects on disk under ``data_dir``. Thread-safe.

    Metadata changes happen under one lock; body transfer (spooling uploads,
    streaming downloads) happens outside it. ``get_object`` hands back an open
    file: blobs are immutable and replaced by rename, so a reader keeps a
    consistent object even while it is overwritten or deleted (POSIX semantics).
    """

    def __init__(self, data_dir: Path, *, fsync: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self._fsync = fsync
        self._tmp = self.data_dir / "tmp"
        self._root = self.data_dir / "buckets"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._root.mkdir(parents=True, exist_ok=True)
        fsutil.sweep_tmp(self._tmp)
        self._lock = threading.RLock()
        self._indexes: dict[str, _Index] = {}

    # ----- buckets -------------------------------------------------------------

    def create_bucket(self, name: str, region: str) -> BucketInfo:
        if not is_valid_bucket_name(name):
            raise BucketError("InvalidBucketName", "The specified bucket is not valid.", BucketName=str(name))
        with self._lock:
            bdir = self._root / name
            if (bdir / "bucket.json").exists():
                raise BucketError("BucketAlreadyExists", "The requested bucket name is not available.", BucketName=name)
            for sub in ("meta", "blobs", "uploads"):
                (bdir / sub).mkdir(parents=True, exist_ok=True)
            created = now()
            # bucket.json last: its presence is what makes the bucket exist.
            fsutil.write_json(
                bdir / "bucket.json",
                {"name": name, "region": region, "created": created.isoformat()},
                self._tmp,
                fsync=self._fsync,
            )
            self._indexes[name] = _Index()
            return BucketInfo(name, region, created, 0, 0)

    def delete_bucket(self, name: str, *, force: bool = False) -> None:
        """Delete an empty bucket (BucketNotEmpty otherwise); ``force`` deletes its objects too."""
        with self._lock:
            idx = self._index(name)
            if idx.keys and not force:
                raise BucketError("BucketNotEmpty", "The bucket you tried to delete is not empty.", BucketName=name)
            # In-progress multipart uploads go with the bucket.
            fsutil.trash(self._root / name, self._tmp)
            self._indexes.pop(name, None)

    def get_bucket(self, name: str) -> BucketInfo | None:
        with self._lock:
            data = self._bucket_json(name)
            if data is None:
                return None
            idx = self._index(name)
            return BucketInfo(
                data["name"], data["region"], datetime.fromisoformat(data["created"]), len(idx.keys), idx.size
            )

    def list_buckets(self) -> list[BucketInfo]:
        with self._lock:
            names = sorted(p.name for p in self._root.iterdir() if p.is_dir())
            return [b for b in map(self.get_bucket, names) if b is not None]

    # ----- objects -------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        key: str,
        body: BinaryIO | bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        expect: Iterable[Expect] = (),
    ) -> ObjectInfo:
        """Store ``body`` (bytes or a stream read to EOF) under ``key``.

        ``expect`` lists digests the client announced; any mismatch raises its
        error code (BadDigest, XAmzContentSHA256Mismatch) and stores nothing.
        """
        check_key(key)
        meta = check_metadata(metadata or {})
        self._require(bucket)  # fail before spooling a large body
        expect = list(expect)
        hasher = hasher_for(expect, "md5")
        tmp, size = fsutil.spool(as_stream(body), self._tmp, hasher, limit=MAX_PUT_SIZE, fsync=self._fsync)
        try:
            hasher.verify(expect)
            return self._commit(bucket, key, tmp, size, hasher.digest("md5").hex(), content_type, meta)
        finally:
            tmp.unlink(missing_ok=True)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        with self._lock:
            return self._record(bucket, key).info

    def get_object(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's info and an open binary file of its contents; the caller closes it."""
        with self._lock:
            rec = self._record(bucket, key)
            return rec.info, open(self._root / bucket / "blobs" / rec.blob, "rb")

    def delete_object(self, bucket: str, key: str) -> bool:
        """Delete ``key``; False when it did not exist (S3 answers 204 either way)."""
        with self._lock:
            idx = self._index(bucket)
            rec = idx.pop(key)
            if rec is None:
                return False
            (self._meta_path(bucket, key)).unlink(missing_ok=True)
            (self._root / bucket / "blobs" / rec.blob).unlink(missing_ok=True)
            return True

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ListResult:
        """One page of keys in S3 order; pass ``next_marker`` as ``start_after`` for the next."""
        with self._lock:
            idx = self._index(bucket)
            page = list_page(idx.keys, prefix=prefix, delimiter=delimiter, after=start_after, max_keys=max_keys)
            objects = [idx.records[k].info for k in page.keys]
        return ListResult(objects, page.common_prefixes, page.truncated, page.last)

    def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Server-side copy. ``metadata=None`` copies content type and metadata (COPY
        directive); otherwise both are replaced (REPLACE directive)."""
        check_key(key)
        replace = metadata is not None
        meta = check_metadata(metadata) if replace else None
        with self._lock:
            self._require(bucket)
            src = self._record(src_bucket, src_key)
            if (src_bucket, src_key) == (bucket, key) and not replace:
                raise BucketError(
                    "InvalidRequest",
                    "This copy request is illegal because it is trying to copy an object to itself "
                    "without changing the object's metadata.",
                )
            tmp = self._tmp / fsutil.new_name()
            # Link under the lock so the source blob cannot vanish in between.
            fsutil.link_or_copy(self._root / src_bucket / "blobs" / src.blob, tmp)
        try:
            if not replace:
                content_type, meta = src.info.content_type, dict(src.info.metadata)
            return self._commit(bucket, key, tmp, src.info.size, src.info.etag, content_type, meta or {})
        finally:
            tmp.unlink(missing_ok=True)

    # ----- internals -------------------------------------------------------------

    def _bucket_json(self, name: str) -> dict | None:
        if not is_valid_bucket_name(name):
            return None  # also keeps "..", "/" and friends out of paths
        return fsutil.read_json(self._root / name / "bucket.json")

    def _require(self, bucket: str) -> None:
        with self._lock:
            self._index(bucket)

    def _index(self, bucket: str) -> _Index:
        """The bucket's index (lock held); NoSuchBucket if it does not exist."""
        idx = self._indexes.get(bucket)
        if idx is not None:
            return idx
        if self._bucket_json(bucket) is None:
            raise BucketError("NoSuchBucket", "The specified bucket does not exist.", BucketName=str(bucket))
        idx = self._indexes[bucket] = self._load_index(bucket)
        return idx

    def _load_index(self, bucket: str) -> _Index:
        idx = _Index()
        bdir = self._root / bucket
        referenced = set()
        for path in (bdir / "meta").glob("*/*.json"):
            data = fsutil.read_json(path)
            if data is None:
                continue
            referenced.add(data["blob"])
            idx.put(_Record(_info_from_json(data), data["blob"]))
        # Blobs renamed in by a process killed before it wrote the sidecar.
        cutoff = datetime.now(timezone.utc).timestamp() - fsutil.STALE_TMP_S
        for blob in (bdir / "blobs").iterdir():
            try:
                if blob.name not in referenced and blob.stat().st_mtime < cutoff:
                    blob.unlink()
            except OSError:
                pass  # gone already
        return idx

    def _record(self, bucket: str, key: str) -> _Record:
        rec = self._index(bucket).records.get(key)
        if rec is None:
            raise BucketError("NoSuchKey", "The specified key does not exist.", Key=key)
        return rec

    def _meta_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._root / bucket / "meta" / digest[:2] / f"{digest}.json"

    def _commit(
        self,
        bucket: str,
        key: str,
        tmp: Path,
        size: int,
        etag: str,
        content_type: str | None,
        metadata: dict[str, str],
    ) -> ObjectInfo:
        """Move a spooled temp file in as ``key``'s contents; the sidecar rename is the commit."""
        info = ObjectInfo(key, size, etag, content_type or DEFAULT_CONTENT_TYPE, metadata, now())
        with self._lock:
            idx = self._index(bucket)  # the bucket may have been deleted while we spooled
            blob = fsutil.new_name()
            os.replace(tmp, self._root / bucket / "blobs" / blob)
            meta_path = self._meta_path(bucket, key)
            meta_path.parent.mkdir(exist_ok=True)
            fsutil.write_json(meta_path, _info_to_json(info, blob), self._tmp, fsync=self._fsync)
            old = idx.put(_Record(info, blob))
            if old is not None:
                (self._root / bucket / "blobs" / old.blob).unlink(missing_ok=True)
        return info


def _info_to_json(info: ObjectInfo, blob: str) -> dict:
    return {
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "content_type": info.content_type,
        "metadata": info.metadata,
        "last_modified": info.last_modified.isoformat(),
        "blob": blob,
    }


def _info_from_json(d: dict) -> ObjectInfo:
    return ObjectInfo(
        d["key"], d["size"], d["etag"], d["content_type"], d["metadata"], datetime.fromisoformat(d["last_modified"])
    )
