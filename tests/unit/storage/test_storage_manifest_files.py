"""Manifests: the file list is exact, the digest names the data alone, the hash cache skips unchanged files."""

from __future__ import annotations

import json
import os

import pytest

from stager.errors import UsageError
from stager.hashing import sha256_file
from stager.storage.hashcache import HashCache
from stager.storage.manifest import Manifest, ManifestStore, new_manifest, scan_files


def dataset(root):
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.bin").write_bytes(b"a" * 1000)
    (root / "train" / "b.bin").write_bytes(b"b" * 10)
    (root / "val.csv").write_text("x,label\n1,0\n")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / ".stager").mkdir()
    (root / ".stager" / "state").write_text("bookkeeping")
    return root


def test_scan_lists_every_data_file_with_size_and_hash(tmp_path):
    root = dataset(tmp_path / "d")
    files = scan_files(root)
    assert [f.path for f in files] == ["train/a.bin", "train/b.bin", "val.csv"]
    assert files[0].size == 1000 and files[0].sha256 == sha256_file(root / "train" / "a.bin")


def test_digest_follows_content_not_time_statistics_or_validation(tmp_path):
    root = dataset(tmp_path / "d")
    first = new_manifest("d", root, scan_files(root))
    again = new_manifest("d", root, scan_files(root)).with_validation({}, {"ok": False})
    assert again.digest == first.digest
    (root / "train" / "b.bin").write_bytes(b"c" * 10)  # same size, other bytes
    changed = new_manifest("d", root, scan_files(root))
    assert changed.digest != first.digest
    assert changed.diff(first).changed == ("train/b.bin",)
    assert first.with_validation({"train": {"count": 2}}, None).digest == first.digest


def test_diff_added_removed(tmp_path):
    root = dataset(tmp_path / "d")
    old = new_manifest("d", root, scan_files(root))
    (root / "val.csv").unlink()
    (root / "test.csv").write_text("x,label\n")
    diff = new_manifest("d", root, scan_files(root)).diff(old)
    assert (diff.added, diff.removed, diff.changed) == (("test.csv",), ("val.csv",), ())


def test_round_trip_and_tamper_evidence(tmp_path):
    root = dataset(tmp_path / "d")
    manifest = new_manifest("d", root, scan_files(root))
    path = tmp_path / "m.json"
    manifest.save(path)
    assert Manifest.load(path) == manifest
    data = json.loads(path.read_text())
    data["files"][0][1] = 999
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="digest does not match"):
        Manifest.load(path)


def test_hash_cache_reads_only_changed_files(tmp_path):
    root = dataset(tmp_path / "d")
    with HashCache(tmp_path / "cache.sqlite") as cache:
        scan_files(root, cache=cache)
        assert (cache.hits, cache.misses) == (0, 3)
        scan_files(root, cache=cache)
        assert (cache.hits, cache.misses) == (3, 3)
        target = root / "train" / "a.bin"
        target.write_bytes(b"z" * 1000)
        os.utime(target, ns=(1, 1))  # new content, size unchanged: the mtime tells
        files = scan_files(root, cache=cache)
        assert (cache.hits, cache.misses) == (5, 4)
        assert files[0].sha256 == sha256_file(target)
    with HashCache(tmp_path / "cache.sqlite") as reopened:  # persists between processes
        scan_files(root, cache=reopened)
        assert reopened.misses == 0


def test_store_keeps_versions_and_latest(tmp_path):
    root = dataset(tmp_path / "d")
    store = ManifestStore(tmp_path / "home")
    assert store.latest("mnist") is None
    first = new_manifest("mnist", root, scan_files(root))
    store.save(first)
    (root / "val.csv").write_text("x,label\n2,1\n")
    second = new_manifest("mnist", root, scan_files(root))
    store.save(second)
    assert store.latest("mnist") == second
    assert store.get("mnist", first.digest) == first


@pytest.mark.parametrize("make", ["missing", "file", "empty"])
def test_bad_roots(tmp_path, make):
    target = tmp_path / "x"
    if make == "file":
        target.write_text("")
    elif make == "empty":
        target.mkdir()
        (target / ".hidden").write_text("not data")
    with pytest.raises(UsageError, match=str(target)):
        scan_files(target)
