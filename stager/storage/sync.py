"""``stager data sync``: a dataset folder to a bucket prefix, incremental by manifest, verified.

One sync, step by step:

1. list the prefix (sizes and ETags; one request per 1,000 objects) and read
   the remote manifest (one GET);
2. plan (``plan.py``): a file is sent unless an object of the same size whose
   sha256 is known (vouched for by the remote manifest, else read from its
   metadata with a HEAD) matches it;
3. abort multipart uploads a killed sync left behind, send (``upload.py``),
   and with ``delete`` remove objects no longer in the dataset (never
   ``.stager/``);
4. verify: list again; every file must be there with its size and with the
   ETag of the object whose sha256 is known (the one just sent, or the one
   found right); with ``delete``, nothing else may be left;
5. write the remote manifest, last, and only when something in it changed.

A no-op re-sync is therefore one listing plus one GET. An interrupted sync
leaves only complete objects (each with its sha256), so running it again sends
only what is missing. Not supported: two syncs to one prefix at the same time,
object versioning, storage classes, server-side encryption options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stager.errors import Interrupted, JobFailed, StagerError, UsageError
from stager.interrupts import interruptible
from stager.storage.hashcache import HashCache
from stager.storage.manifest import Manifest
from stager.storage.parallel import parallel_map
from stager.storage.plan import SyncPlan, plan_sync
from stager.storage.progress import TransferProgress, format_bytes
from stager.storage.remote import (
    MANIFEST_KEY,
    Listing,
    RemoteIndex,
    head_sha256,
    list_objects,
    read_index,
    write_index,
)
from stager.storage.s3 import S3Location, pool_size, transfer_config
from stager.storage.upload import Uploader, abort_unfinished_uploads, delete_objects

__all__ = ["SyncResult", "sync_dataset"]

_SAY_CHECKS_FROM = 100  # announce the HEAD phase when it is this long


@dataclass
class SyncResult:
    """What a sync (or a pull) did; in a dry run, what it would have done."""

    sent: list[str]  # dataset paths sent (pull: downloaded), sorted
    skipped: int  # files already in place with the right size and sha256
    deleted: list[str]  # dataset paths of objects removed (sync with delete only)
    bytes_sent: int  # bytes of the files in ``sent``
    verified: int  # files checked after the transfer (0 in a dry run)
    dry_run: bool
    manifest: Manifest | None = None  # the manifest the files were checked against (pull: the remote one)


def sync_dataset(root: Path, manifest: Manifest, dest: S3Location, client, *, delete: bool = False,
                 dry_run: bool = False, progress: bool | None = None, say: Callable[[str], None] = print,
                 config=None, cache: HashCache | None = None) -> SyncResult:
    """Make ``dest`` hold exactly the files of ``manifest`` (read from ``root``), sending only what differs.

    ``progress``: True a rich bar, False plain lines, None a bar only on a
    terminal. ``say`` gets dry-run lines, warnings and plain progress lines.
    ``config``: a ``transfer_config(...)`` (default: stager's tuned one).
    ``cache``: the hash cache the manifest was made with; large files unchanged
    since (size, mtime, inode) are then not hashed again before they are sent.

    Raises:
        UsageError: the bucket does not exist, the keys are refused or may not
            write, or a file cannot be read.
        JobFailed: the endpoint does not answer or fails; a file changed since its
            manifest was made; verification found an object that is not right.
        Interrupted: Ctrl-C or SIGTERM; unfinished uploads were aborted and what
            finished is complete (the next sync continues from there).
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such dataset folder")
    run = _Sync(root, manifest, dest, client, config or transfer_config(), progress, say, cache)
    with interruptible():
        try:
            return run.execute(delete=delete, dry_run=dry_run)
        except KeyboardInterrupt:
            error = Interrupted(f"sync to {dest} interrupted {run.progress_note()}")
    raise error


class _Sync:
    def __init__(self, root: Path, manifest: Manifest, dest: S3Location, client, config, progress, say,
                 cache) -> None:
        self.root, self.manifest, self.dest, self.client = root, manifest, dest, client
        self.config, self.progress, self.say, self.cache = config, progress, say, cache
        self.plan: SyncPlan | None = None
        self.uploader: Uploader | None = None
        self.stage = "comparing"  # comparing, sending, deleting, verifying: where an interruption landed

    def progress_note(self) -> str:
        """How far the sync got, for the message of an interruption."""
        if self.stage == "comparing":
            return "while comparing, before anything was changed"
        if self.stage == "sending":
            sent = len(self.uploader.etags) if self.uploader else 0
            return (f"after sending {sent} of {len(self.plan.send)} files (each complete; unfinished uploads were "
                    "aborted); run the same sync again to send the rest")
        return f"while {self.stage}, after every file was sent; run the same sync again to finish"

    def execute(self, *, delete: bool, dry_run: bool) -> SyncResult:
        listing = list_objects(self.client, self.dest)
        index = None
        if MANIFEST_KEY in listing.records:
            index = read_index(self.client, self.dest)
            if index is None:
                self.say(f"warning: the remote manifest of {self.dest} is damaged; reading each object's stored "
                         "hash instead (it is rewritten at the end)")
        self.plan = plan = plan_sync(self.manifest, listing, index, delete=delete)
        self._check_stored_hashes(plan)
        if dry_run:
            return self._dry_run(plan)
        if plan.send:
            self.stage = "sending"
            self._abort_leftovers()
            with TransferProgress(f"sending to {self.dest}", files=len(plan.send), total_bytes=plan.bytes_to_send,
                                  enabled=self.progress, say=self.say) as bar:
                self.uploader = Uploader(self.client, self.root, self.dest, config=self.config, progress=bar,
                                         cache=self.cache)
                self.uploader.run(plan.send)
        self.stage = "deleting"
        delete_objects(self.client, self.dest, plan.delete)
        self.stage = "verifying"
        sent = self.uploader.etags if self.uploader else {}
        final = list_objects(self.client, self.dest, action="verifying") if (plan.send or plan.delete) else listing
        etags = self._verify(final, {**plan.unchanged, **sent}, delete=delete)
        self._record(index, etags)
        return SyncResult(sent=sorted(sent), skipped=len(plan.unchanged), deleted=plan.delete,
                          bytes_sent=plan.bytes_to_send, verified=len(self.manifest.files), dry_run=False)

    def _check_stored_hashes(self, plan: SyncPlan) -> None:
        """HEAD the same-sized objects the remote manifest does not vouch for, in parallel."""
        if not plan.check:
            return
        if len(plan.check) >= _SAY_CHECKS_FROM:
            self.say(f"reading the stored hashes of {len(plan.check)} objects the remote manifest does not cover")
        answers = parallel_map(lambda e: head_sha256(self.client, self.dest, e.path), plan.check,
                               threads=pool_size(self.client), name="stager-head")
        for entry, answer in zip(plan.check, answers, strict=True):
            plan.settle(entry, *(answer or (None, None)))
        plan.check = []

    def _dry_run(self, plan: SyncPlan) -> SyncResult:
        for entry in plan.send:
            self.say(f"would send {entry.path} ({format_bytes(entry.size)})")
        for path in plan.delete:
            self.say(f"would delete {self.dest.key(path)}")
        self.say(f"dry run: would send {len(plan.send)} files ({format_bytes(plan.bytes_to_send)}) and delete "
                 f"{len(plan.delete)} objects; {len(plan.unchanged)} files unchanged; nothing was changed")
        return SyncResult(sent=sorted(e.path for e in plan.send), skipped=len(plan.unchanged), deleted=plan.delete,
                          bytes_sent=plan.bytes_to_send, verified=0, dry_run=True)

    def _abort_leftovers(self) -> None:
        try:
            aborted = abort_unfinished_uploads(self.client, self.dest)
        except StagerError as exc:  # a key may list and put but not list uploads; not worth failing over
            self.say(f"warning: could not look for unfinished uploads: {exc}")
            return
        if aborted:
            self.say(f"aborted {aborted} unfinished multipart uploads left under {self.dest}")

    def _verify(self, listing: Listing, expected: dict[str, str], *, delete: bool) -> dict[str, str]:
        """Every file listed with its size and the ETag whose sha256 is known; return path -> ETag.

        Raises:
            JobFailed: naming how many objects are wrong and the first few.
        """
        problems = []
        for entry in self.manifest.files:
            found = listing.files.get(entry.path)
            if found is None:
                problems.append(f"{entry.path}: missing")
            elif found.size != entry.size:
                problems.append(f"{entry.path}: {found.size} bytes, expected {entry.size}")
            elif found.etag != expected.get(entry.path):
                problems.append(f"{entry.path}: replaced during the sync")
        if delete:
            wanted = {f.path for f in self.manifest.files}
            problems += [f"{p}: should have been deleted" for p in sorted(listing.files) if p not in wanted]
        if problems:
            shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
            raise JobFailed(f"verifying {self.dest} failed for {len(problems)} objects ({shown}); the remote "
                            "manifest was not updated: run the sync again")
        return {f.path: listing.files[f.path].etag for f in self.manifest.files}

    def _record(self, index: RemoteIndex | None, etags: dict[str, str]) -> None:
        """Write the remote manifest unless the one there already says exactly this."""
        if index is not None and index.etags == etags and _same_dataset(index.manifest, self.manifest):
            return
        write_index(self.client, self.dest, RemoteIndex(self.manifest, etags))


def _same_dataset(a: Manifest, b: Manifest) -> bool:
    """Equal in everything but when and where the manifest was made."""
    return (a.digest, a.name, a.validation, a.sources) == (b.digest, b.name, b.validation, b.sources)
