"""Deciding what a sync must send and delete, from a listing and the remote manifest alone.

An object is trusted to hold a file only when its size and its sha256 both
match the manifest. The size comes from the listing; the sha256 comes from the
remote manifest when it vouches for that exact object (same ETag), else from
the object's metadata (one HEAD each, only for same-sized objects the remote
manifest does not vouch for). An object with no stored sha256 (a half-finished
or foreign upload) is never trusted: it is sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stager.storage.manifest import FileEntry, Manifest
from stager.storage.remote import Listing, RemoteIndex, RemoteObject

__all__ = ["SyncPlan", "plan_sync"]


@dataclass
class SyncPlan:
    send: list[FileEntry] = field(default_factory=list)  # missing, another size, or another stored sha256
    unchanged: dict[str, str] = field(default_factory=dict)  # path -> ETag of the object already right
    check: list[FileEntry] = field(default_factory=list)  # same size, not vouched for: read its stored sha256
    delete: list[str] = field(default_factory=list)  # objects no longer in the dataset (when asked to delete)

    @property
    def bytes_to_send(self) -> int:
        return sum(f.size for f in self.send)

    def settle(self, entry: FileEntry, stored_sha256: str | None, found: RemoteObject | None) -> None:
        """Decide a checked entry from its object's stored hash (``found`` None: the object vanished)."""
        if found is not None and stored_sha256 == entry.sha256 and found.size == entry.size:
            self.unchanged[entry.path] = found.etag
        else:
            self.send.append(entry)


def plan_sync(manifest: Manifest, listing: Listing, index: RemoteIndex | None, *, delete: bool) -> SyncPlan:
    """What to send, what is already there, what needs a HEAD, and (with ``delete``) what to remove.

    ``.stager/`` records are never in ``delete``: they are not in ``listing.files``.
    """
    plan = SyncPlan()
    for entry in manifest.files:
        listed = listing.files.get(entry.path)
        if listed is None or listed.size != entry.size:
            plan.send.append(entry)
            continue
        vouched = index.vouched_sha256(entry.path, listed) if index is not None else None
        if vouched is None:
            plan.check.append(entry)
        elif vouched == entry.sha256:
            plan.unchanged[entry.path] = listed.etag
        else:
            plan.send.append(entry)
    if delete:
        wanted = {f.path for f in manifest.files}
        plan.delete = sorted(p for p in listing.files if p not in wanted)
    return plan
