"""What a sync sends, keeps, checks and deletes, decided from a listing and the remote manifest."""

from __future__ import annotations

from stager.storage.manifest import FileEntry, Manifest
from stager.storage.plan import plan_sync
from stager.storage.remote import Listing, RemoteIndex, RemoteObject

A = FileEntry("a.bin", 10, "a" * 64)
B = FileEntry("b.bin", 20, "b" * 64)
C = FileEntry("sub/c.bin", 30, "c" * 64)
MANIFEST = Manifest("demo", (A, B, C))


def test_everything_is_sent_to_an_empty_prefix():
    plan = plan_sync(MANIFEST, Listing({}, {}), None, delete=True)
    assert plan.send == [A, B, C] and plan.unchanged == {} and plan.check == [] and plan.delete == []
    assert plan.bytes_to_send == 60


def test_the_remote_manifest_vouches_only_for_the_objects_it_verified():
    listed = Listing({"a.bin": RemoteObject(10, "e1"), "b.bin": RemoteObject(20, "e2-new"),
                      "sub/c.bin": RemoteObject(30, "e3")}, {})
    index = RemoteIndex(Manifest("demo", (A, B, FileEntry("sub/c.bin", 30, "0" * 64))),
                        {"a.bin": "e1", "b.bin": "e2", "sub/c.bin": "e3"})
    plan = plan_sync(MANIFEST, listed, index, delete=False)
    assert plan.unchanged == {"a.bin": "e1"}  # same ETag, same hash
    assert plan.check == [B]  # replaced since (new ETag): its stored hash must be read
    assert plan.send == [C]  # vouched for, but with another hash: the file changed


def test_an_object_of_another_size_is_sent_without_asking():
    plan = plan_sync(MANIFEST, Listing({"a.bin": RemoteObject(11, "e1")}, {}), None, delete=False)
    assert A in plan.send and plan.check == []


def test_checked_objects_are_settled_by_their_stored_hash():
    plan = plan_sync(MANIFEST, Listing({p.path: RemoteObject(p.size, p.path) for p in (A, B, C)}, {}), None,
                     delete=False)
    assert plan.check == [A, B, C]
    plan.settle(A, A.sha256, RemoteObject(10, "ea"))
    plan.settle(B, None, RemoteObject(20, "eb"))  # no stored hash: never trusted
    plan.settle(C, C.sha256, None)  # vanished meanwhile
    assert plan.unchanged == {"a.bin": "ea"} and plan.send == [B, C]


def test_delete_lists_only_objects_outside_the_dataset():
    listed = Listing({"a.bin": RemoteObject(10, "e"), "old.bin": RemoteObject(1, "o"),
                      "sub/older.bin": RemoteObject(1, "o")}, {".stager/manifest.json": RemoteObject(5, "m")})
    assert plan_sync(MANIFEST, listed, None, delete=True).delete == ["old.bin", "sub/older.bin"]
    assert plan_sync(MANIFEST, listed, None, delete=False).delete == []
