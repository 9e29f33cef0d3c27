"""Multipart uploads, as a mixin of ``BucketStore``.

On disk: ``buckets/<name>/uploads/<upload id>/upload.json`` (key, content type,
metadata, initiated), ``part-<nnnnn>.json`` per part (size, etag, blob) and the
part blobs themselves. Completing concatenates the listed parts into a new
object whose ETag is ``md5(concatenated part md5s)-<part count>``, as S3 does.

Not emulated: ListMultipartUploads paging markers (all uploads are returned up
to ``max_uploads``), checksum types on parts, part sizes above the 5 GiB limit
are refused like any PUT.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from . import fsutil
from .checksums import Expect, Hasher, hasher_for
from .errors import BucketError
from .rules import MAX_PUT_SIZE, as_stream, check_key, check_metadata, now

if TYPE_CHECKING:  # the mixin reaches into BucketStore's internals
    from .store import ObjectInfo

MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last, as on Linode and S3
MAX_PARTS = 10_000
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str  # without quotes
    last_modified: datetime


@dataclass(frozen=True)
class UploadInfo:
    key: str
    upload_id: str
    initiated: datetime


def _unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


class MultipartMixin:
    _lock: object
    _tmp: Path
    _root: Path
    _fsync: bool

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Start an upload; returns its upload id."""
        check_key(key)
        meta = check_metadata(metadata or {})
        with self._lock:
            self._require(bucket)
            upload_id = fsutil.new_name()
            udir = self._root / bucket / "uploads" / upload_id
            udir.mkdir()
            fsutil.write_json(
                udir / "upload.json",
                {"key": key, "content_type": content_type, "metadata": meta, "initiated": now().isoformat()},
                self._tmp,
            )
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: BinaryIO | bytes,
        *,
        expect: Iterable[Expect] = (),
    ) -> PartInfo:
        self._check_part_number(part_number)
        self._upload(bucket, key, upload_id)
        expect = list(expect)
        hasher = hasher_for(expect, "md5")
        tmp, size = fsutil.spool(as_stream(body), self._tmp, hasher, limit=MAX_PUT_SIZE, fsync=self._fsync)
        try:
            hasher.verify(expect)
            return self._commit_part(bucket, key, upload_id, part_number, tmp, size, hasher.digest("md5").hex())
        finally:
            tmp.unlink(missing_ok=True)

    def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        src_bucket: str,
        src_key: str,
        byte_range: tuple[int, int] | None = None,
    ) -> PartInfo:
        """A part copied from (an inclusive ``byte_range`` of) an existing object."""
        self._check_part_number(part_number)
        self._upload(bucket, key, upload_id)
        info, f = self.get_object(src_bucket, src_key)
        with f:
            start, end = byte_range if byte_range is not None else (0, info.size - 1)
            if not (0 <= start <= end < info.size):
                raise BucketError(
                    "InvalidArgument", f"Range specified is not valid for source object of size: {info.size}"
                )
            f.seek(start)
            hasher = Hasher(["md5"])
            tmp, size = fsutil.spool(_Window(f, end - start + 1), self._tmp, hasher, limit=MAX_PUT_SIZE)
        try:
            return self._commit_part(bucket, key, upload_id, part_number, tmp, size, hasher.digest("md5").hex())
        finally:
            tmp.unlink(missing_ok=True)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        with self._lock:
            udir = self._upload(bucket, key, upload_id)
            return [p for p, _ in self._parts(udir)]

    def list_multipart_uploads(self, bucket: str, *, prefix: str = "", max_uploads: int = 1000) -> list[UploadInfo]:
        with self._lock:
            self._require(bucket)
            out = []
            for udir in (self._root / bucket / "uploads").iterdir():
                data = fsutil.read_json(udir / "upload.json")
                if data is not None and data["key"].startswith(prefix):
                    out.append(UploadInfo(data["key"], udir.name, datetime.fromisoformat(data["initiated"])))
        out.sort(key=lambda u: (u.key, u.initiated))
        return out[:max_uploads]

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            fsutil.trash(self._upload(bucket, key, upload_id), self._tmp)

    def complete_multipart_upload(
        self, bucket: str, key: str, upload_id: str, parts: Iterable[tuple[int, str]]
    ) -> ObjectInfo:
        """Assemble the listed ``(part number, etag)`` pairs, in ascending order, into the object."""
        parts = list(parts)
        if not parts:
            raise BucketError("MalformedXML", "You must specify at least one part.")
        numbers = [n for n, _ in parts]
        if any(a >= b for a, b in itertools.pairwise(numbers)):
            raise BucketError("InvalidPartOrder", "The list of parts was not in ascending order.")
        with contextlib.ExitStack() as stack:
            with self._lock:
                udir = self._upload(bucket, key, upload_id)
                upload = fsutil.read_json(udir / "upload.json")
                chosen = self._chosen_parts(udir, parts)
                # Hold the part files open: an abort racing with us cannot pull them away.
                files = [stack.enter_context(open(udir / blob, "rb")) for _, blob in chosen]
            tmp = self._tmp / fsutil.new_name()
            try:
                with open(tmp, "wb") as out:
                    for f in files:
                        shutil.copyfileobj(f, out, fsutil.CHUNK)
                    size = out.tell()
                md5s = b"".join(bytes.fromhex(p.etag) for p, _ in chosen)
                etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
                with self._lock:
                    udir = self._upload(bucket, key, upload_id)  # not completed or aborted meanwhile
                    info = self._commit(bucket, key, tmp, size, etag, upload["content_type"], upload["metadata"])
                    fsutil.trash(udir, self._tmp)
                return info
            finally:
                tmp.unlink(missing_ok=True)

    def _chosen_parts(self, udir: Path, parts: list[tuple[int, str]]) -> list[tuple[PartInfo, str]]:
        stored = {p.number: (p, blob) for p, blob in self._parts(udir)}
        chosen = []
        for i, (number, etag) in enumerate(parts):
            found = stored.get(number)
            if found is None or found[0].etag != _unquote_etag(etag):
                raise BucketError(
                    "InvalidPart",
                    "One or more of the specified parts could not be found or its entity tag did not match.",
                    PartNumber=str(number),
                )
            if i < len(parts) - 1 and found[0].size < MIN_PART_SIZE:
                raise BucketError(
                    "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size."
                )
            chosen.append(found)
        return chosen

    # ----- internals -------------------------------------------------------------

    @staticmethod
    def _check_part_number(part_number: int) -> None:
        if not 1 <= part_number <= MAX_PARTS:
            raise BucketError("InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}.")

    def _upload(self, bucket: str, key: str, upload_id: str) -> Path:
        with self._lock:
            self._require(bucket)
            udir = self._root / bucket / "uploads" / upload_id
            data = fsutil.read_json(udir / "upload.json") if _UPLOAD_ID_RE.fullmatch(upload_id) else None
            if data is None or data["key"] != key:
                raise BucketError("NoSuchUpload", "The specified upload does not exist.", UploadId=upload_id)
            return udir

    def _parts(self, udir: Path) -> list[tuple[PartInfo, str]]:
        out = []
        for path in sorted(udir.glob("part-*.json")):
            d = fsutil.read_json(path)
            if d is not None:
                info = PartInfo(d["number"], d["size"], d["etag"], datetime.fromisoformat(d["last_modified"]))
                out.append((info, d["blob"]))
        return out

    def _commit_part(
        self, bucket: str, key: str, upload_id: str, number: int, tmp: Path, size: int, etag: str
    ) -> PartInfo:
        info = PartInfo(number, size, etag, now())
        with self._lock:
            udir = self._upload(bucket, key, upload_id)
            blob = fsutil.new_name()
            os.replace(tmp, udir / blob)
            part_path = udir / f"part-{number:05d}.json"
            old = fsutil.read_json(part_path)
            fsutil.write_json(
                part_path,
                {"number": number, "size": size, "etag": etag, "last_modified": info.last_modified.isoformat(), "blob": blob},
                self._tmp,
                fsync=self._fsync,
            )
            if old is not None:
                (udir / old["blob"]).unlink(missing_ok=True)
        return info


class _Window:
    """Reads at most ``remaining`` bytes of ``f`` from its current position."""

    def __init__(self, f: BinaryIO, remaining: int) -> None:
        self._f = f
        self._remaining = remaining

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._remaining:
            n = self._remaining
        data = self._f.read(n)
        self._remaining -= len(data)
        return data
