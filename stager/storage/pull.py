"""``stager data pull``: a synced prefix back into a folder, every file checked against the remote manifest.

The remote manifest (written last by a complete sync) says what the prefix
holds. Each file is downloaded to a hidden temporary name beside its final
one (``.<name>.stager-part``: dot files are never dataset files), its size and
sha256 are checked against the manifest, and only then is it renamed into
place. So a file under its final name is always the manifest's content: a
corrupt object, a full disk or Ctrl-C leaves the old file (or none), never a
partial one. Files already present with the right size and sha256 are kept.

Not supported: pulling a prefix without a remote manifest (sync it first),
deleting local files the manifest does not list, restoring file modes or times.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import shutil
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from stager.errors import Interrupted, JobFailed, UsageError
from stager.hashing import sha256_file
from stager.interrupts import interruptible
from stager.storage.errors import s3_call
from stager.storage.hashcache import HashCache
from stager.storage.manifest import FileEntry, Manifest
from stager.storage.parallel import parallel_map
from stager.storage.progress import TransferProgress, format_bytes
from stager.storage.remote import read_index
from stager.storage.s3 import S3Location, pool_size, transfer_config
from stager.storage.sync import SyncResult

__all__ = ["pull_dataset"]

PART_SUFFIX = ".stager-part"
LARGE_IN_FLIGHT = 4  # large files downloading at once; their ranged GETs share the transfer's threads
_READ_CHUNK = 1024 * 1024
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_HASH_THREADS = min(8, os.cpu_count() or 2)


def pull_dataset(src: S3Location, dest_dir: Path, client, *, progress: bool | None = None,
                 say: Callable[[str], None] = print, cache: HashCache | None = None, config=None) -> SyncResult:
    """Make ``dest_dir`` hold every file of ``src``'s remote manifest, verified; return what was done.

    The result's ``sent`` lists the files downloaded, ``skipped`` counts those
    already right, ``verified`` every file of the manifest, and ``manifest`` is the
    remote manifest itself. ``cache`` speeds up hashing the files already there.

    Raises:
        UsageError: a malformed or missing remote manifest (never synced), one naming
            an unsafe path; a missing bucket; refused keys; ``dest_dir`` not usable.
        JobFailed: an object does not match the manifest; the disk is full; the
            endpoint does not answer or fails.
        Interrupted: Ctrl-C or SIGTERM; no partial file is left under a final name.
    """
    run = _Pull(src, Path(dest_dir), client, config or transfer_config(), progress, say, cache)
    with interruptible():
        try:
            return run.execute()
        except KeyboardInterrupt:
            done = (f"after {len(run.fetched)} of {run.to_fetch} files were downloaded and verified" if run.to_fetch
                    else "before anything was downloaded")
            error = Interrupted(f"pull from {src} interrupted {done}; no partial file was left under its name: run "
                                "the same pull again to fetch the rest")
    raise error


def _target(dest_dir: Path, path: str, where: str) -> Path:
    """Where ``path`` from a remote manifest lands under ``dest_dir``; refuses anything that could escape it."""
    segments = path.split("/")
    if (not path or "\\" in path or any(s in ("", ".", "..") for s in segments)
            or any(s.startswith(".") for s in segments) or any(ord(c) < 32 for c in path)):
        raise UsageError(f"{where}: the remote manifest names an unsafe path {path!r}; refusing to pull it")
    return dest_dir.joinpath(*segments)


def _write_failure(exc: OSError, path: Path, dest_dir: Path) -> JobFailed:
    if exc.errno in _FULL:
        return JobFailed(f"{dest_dir}: the disk is full ({exc.strerror}) while writing {path.name}; nothing was left "
                         "under its final name: free some space and pull again")
    return JobFailed(f"{path}: cannot write ({exc.strerror or exc})")


class _Pull:
    def __init__(self, src: S3Location, dest_dir: Path, client, config, progress, say, cache) -> None:
        self.src, self.dest_dir, self.client, self.config = src, dest_dir, client, config
        self.progress, self.say, self.cache = progress, say, cache
        self.fetched: list[str] = []
        self.to_fetch = 0
        self._lock = threading.Lock()
        self._bar: TransferProgress | None = None

    def execute(self) -> SyncResult:
        manifest = read_index(self.client, self.src, required=True).manifest
        where = str(self.src)
        targets = {e.path: _target(self.dest_dir, e.path, where) for e in manifest.files}
        try:
            self.dest_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{self.dest_dir}: cannot create the folder ({exc.strerror or exc})") from None
        wanted = self._missing_or_different(manifest, targets)
        self.to_fetch = len(wanted)
        need = sum(e.size for e in wanted)
        free = shutil.disk_usage(self.dest_dir).free
        if need > free:
            raise JobFailed(f"{self.dest_dir}: not enough free space to pull {where}: {format_bytes(need)} needed, "
                            f"{format_bytes(free)} free")
        if wanted:
            threshold = self.config.multipart_threshold
            with TransferProgress(f"pulling {where}", files=len(wanted), total_bytes=need, enabled=self.progress,
                                  say=self.say) as bar:
                self._bar = bar
                small = [e for e in wanted if e.size < threshold]
                large = [e for e in wanted if e.size >= threshold]
                if small:
                    self._fetch_small(small, targets)
                if large:
                    self._fetch_large(large, targets)
        return SyncResult(sent=sorted(self.fetched), skipped=len(manifest.files) - len(wanted), deleted=[],
                          bytes_sent=need, verified=len(manifest.files), dry_run=False, manifest=manifest)

    def _missing_or_different(self, manifest: Manifest, targets: dict[str, Path]) -> list[FileEntry]:
        """The entries whose file is absent, or present with another size or sha256."""
        def differs(entry: FileEntry) -> bool:
            target = targets[entry.path]
            try:
                st = target.stat()
            except OSError:
                return True
            if not target.is_file() or st.st_size != entry.size:
                return True
            try:
                digest = self.cache.sha256(target, st) if self.cache else sha256_file(target)
            except OSError:
                return True
            return digest != entry.sha256

        verdicts = parallel_map(differs, manifest.files, threads=_HASH_THREADS, name="stager-hash")
        return [e for e, d in zip(manifest.files, verdicts, strict=True) if d]

    def _check_and_place(self, entry: FileEntry, temp: Path, size: int, digest: str, target: Path) -> None:
        """Rename ``temp`` to its final name if it holds exactly the manifest's content.

        Raises:
            JobFailed: the content differs (the object was changed after the sync).
        """
        if size != entry.size or digest != entry.sha256:
            got = f"{size} bytes" if size != entry.size else f"sha256 {digest[:12]}..."
            raise JobFailed(f"{self.src.key(entry.path)}: the object does not match the remote manifest ({got}, "
                            f"expected {entry.size} bytes, sha256 {entry.sha256[:12]}...); it was changed after the "
                            "sync: sync the dataset again")
        os.replace(temp, target)
        with self._lock:
            self.fetched.append(entry.path)
        self._bar.advance(files=1)

    # -- small files: one GET each, hashed as they stream in ---------------------------------

    def _fetch_small(self, entries: list[FileEntry], targets: dict[str, Path]) -> None:
        parallel_map(lambda e: self._get(e, targets[e.path]), entries, threads=pool_size(self.client),
                     name="stager-get")

    def _get(self, entry: FileEntry, target: Path) -> None:
        temp = target.with_name(f".{target.name}{PART_SUFFIX}")
        key = self.src.key(entry.path)
        failure = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as out:
                size, digest = s3_call(lambda: self._stream(key, out), action="downloading",
                                       where=f"s3://{self.src.bucket}/{key}", endpoint=self.client.meta.endpoint_url,
                                       bucket=self.src.bucket)
            self._check_and_place(entry, temp, size, digest, target)
        except OSError as exc:
            failure = _write_failure(exc, target, self.dest_dir)
        finally:
            temp.unlink(missing_ok=True)  # gone already when the file was placed
        if failure is not None:
            raise failure

    def _stream(self, key: str, out) -> tuple[int, str]:
        body = self.client.get_object(Bucket=self.src.bucket, Key=key)["Body"]
        sha, size = hashlib.sha256(), 0
        try:
            for chunk in body.iter_chunks(_READ_CHUNK):
                out.write(chunk)
                sha.update(chunk)
                size += len(chunk)
                self._bar.advance(len(chunk))
        finally:
            body.close()
        return size, sha.hexdigest()

    # -- large files: parallel ranged GETs through s3transfer ------------------------------------

    def _fetch_large(self, entries: list[FileEntry], targets: dict[str, Path]) -> None:
        from boto3.s3.transfer import create_transfer_manager

        finished: queue.Queue = queue.Queue()
        pending = deque(entries)
        # path -> (file, temp path), entered before the file is created and left only once it is
        # placed or deleted: a Ctrl-C between any two lines leaves no temporary file behind.
        open_files: dict[str, tuple] = {}
        try:
            # An exception out of this block cancels the transfers in progress (TransferManager.__exit__).
            with create_transfer_manager(self.client, self.config) as manager:
                while pending or open_files:
                    while pending and len(open_files) < LARGE_IN_FLIGHT:
                        entry = pending.popleft()
                        self._submit_large(manager, entry, targets[entry.path], finished, open_files)
                    future, entry = finished.get()
                    out, temp = open_files[entry.path]
                    self._finish_large(future, entry, out, temp, targets[entry.path])
                    del open_files[entry.path]
        finally:
            for out, temp in open_files.values():
                if out is not None:
                    out.close()
                temp.unlink(missing_ok=True)

    def _submit_large(self, manager, entry: FileEntry, target: Path, finished: queue.Queue,
                      open_files: dict[str, tuple]) -> None:
        from s3transfer.subscribers import BaseSubscriber

        temp = target.with_name(f".{target.name}{PART_SUFFIX}")
        open_files[entry.path] = (None, temp)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(temp, "wb")  # noqa: SIM115 - closed when s3transfer reports the transfer done
        except OSError as exc:
            raise _write_failure(exc, target, self.dest_dir) from None
        open_files[entry.path] = (out, temp)
        bar = self._bar

        class Report(BaseSubscriber):
            def on_queued(self, future, **kwargs):
                future.meta.provide_transfer_size(entry.size)  # the manifest's size: no HEAD first

            def on_progress(self, future, bytes_transferred, **kwargs):
                bar.advance(bytes_transferred)

            def on_done(self, future, **kwargs):
                finished.put((future, entry))

        manager.download(self.src.bucket, self.src.key(entry.path), out, subscribers=[Report()])

    def _finish_large(self, future, entry: FileEntry, out, temp: Path, target: Path) -> None:
        key = self.src.key(entry.path)
        failure = None
        try:
            try:
                s3_call(future.result, action="downloading", where=f"s3://{self.src.bucket}/{key}",
                        endpoint=self.client.meta.endpoint_url, bucket=self.src.bucket)
            finally:
                out.close()
            # The ranged GETs landed out of order, so the file is hashed once it is whole.
            self._check_and_place(entry, temp, temp.stat().st_size, sha256_file(temp), target)
        except OSError as exc:
            failure = _write_failure(exc, target, self.dest_dir)
        finally:
            temp.unlink(missing_ok=True)
        if failure is not None:
            raise failure

