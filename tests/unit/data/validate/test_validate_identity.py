"""duplicates, leakage, conflicts and near_duplicates: which samples, on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from stager.data.checks import hashing, identity
from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset
from stager.examples import synthetic


def _config(**mapping):
    return ValidationConfig.from_mapping(mapping)


def _planted(write, root):
    """train/val/test with: train 12 == train 3 (same label), train 20 == train 21 (other label),
    val 4 == train 5, test 2 == val 7, test 6 == train 9 but with another label."""
    x, y = write.balanced(40, (2, 3))
    x_val, y_val = write.balanced(16, (2, 3), seed=1)
    x_test, y_test = write.balanced(12, (2, 3), seed=2)
    x[12], y[12] = x[3], y[3]
    x[21], y[21] = x[20], (y[20] + 1) % 4
    x_val[4], y_val[4] = x[5], y[5]
    x_test[2], y_test[2] = x_val[7], y_val[7]
    x_test[6], y_test[6] = x[9], (y[9] + 2) % 4
    return write.npy_pairs(root, train=(x, y), val=(x_val, y_val), test=(x_test, y_test))


def test_duplicates_leakage_and_conflicts(tmp_path, write, findings):
    report = validate_dataset(_planted(write, tmp_path))
    (dup,) = findings(report, "duplicates")
    assert (dup.split, dup.file, dup.indices, dup.level) == ("train", "train_x.npy", (12,), "warn")
    assert dup.other["other_indices"] == [3]

    leaks = {(f.split, f.other["other_split"]): f for f in findings(report, "leakage")}
    assert set(leaks) == {("val", "train"), ("test", "val"), ("test", "train")}
    assert leaks[("val", "train")].indices == (4,) and leaks[("val", "train")].other["other_indices"] == [5]
    assert leaks[("test", "val")].indices == (2,) and leaks[("test", "val")].other["other_indices"] == [7]
    assert leaks[("test", "train")].indices == (6,) and leaks[("test", "train")].other["other_indices"] == [9]
    assert leaks[("val", "train")].message == "1 sample of val also in train"

    conflicts = {(f.split, f.other["other_split"]): f for f in findings(report, "conflicts")}
    within = conflicts[("train", "train")]
    assert within.indices == (20, 21) and within.other["other_indices"] == [21, 20]
    assert within.other["labels"] == [0, 1] and within.other["other_labels"] == [1, 0]
    across = conflicts[("test", "train")]
    assert across.indices == (6,) and across.other["other_indices"] == [9]
    assert across.other["labels"] == [3] and across.other["other_labels"] == [1]
    assert not report.ok


@pytest.mark.parametrize("check", ["duplicates", "leakage", "conflicts"])
def test_each_identity_check_can_be_turned_off(tmp_path, write, findings, check):
    root = _planted(write, tmp_path)
    report = validate_dataset(root, _config(**{check: "off"}))
    assert findings(report, check) == [] and report.checks_run[check] == "off"
    others = {"duplicates", "leakage", "conflicts"} - {check}
    assert all(findings(report, other) for other in others)


def test_identity_checks_off_skip_hashing(tmp_path, write, monkeypatch):
    root = _planted(write, tmp_path)
    monkeypatch.setattr("stager.data.checks.scan.fast_digests", lambda x: pytest.fail("hashed"))
    report = validate_dataset(root, _config(duplicates="off", leakage="off", conflicts="off"))
    assert report.ok


def test_a_fast_digest_collision_is_never_a_duplicate(tmp_path, write, findings, monkeypatch):
    # Every sample gets the same fast digest: all become candidates, and BLAKE2b tells them apart.
    root = write.npy_pairs(tmp_path, train=write.balanced(50, (4,)), val=write.balanced(20, (4,), seed=1))
    monkeypatch.setattr("stager.data.checks.scan.fast_digests", lambda x: np.zeros(len(x), dtype=np.uint64))
    report = validate_dataset(root)
    assert report.ok and findings(report, "duplicates") == [] and findings(report, "leakage") == []


def test_same_bytes_of_another_shape_are_not_identical():
    a = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    b = a.reshape(1, 4, 3)
    assert hashing.fast_digests(a)[0] != hashing.fast_digests(b)[0]
    assert not np.array_equal(hashing.strong_digests(a), hashing.strong_digests(b))
    assert hashing.fast_digests(a.astype(np.int8))[0] != hashing.fast_digests(a)[0]


def test_duplicates_across_cifar_batches_give_positions_in_each_file(tmp_path, findings):
    from stager.examples import formats

    folder = synthetic.write_cifar10(tmp_path, n_per_batch=20, n_test=20, n_batches=2)
    first, labels1 = formats.read_cifar_batch(folder / "data_batch_1")
    second, labels2 = formats.read_cifar_batch(folder / "data_batch_2")
    second[4], labels2[4] = first[11], labels1[11]
    formats.write_cifar_batch(folder / "data_batch_2", second, labels2, "training batch 2 of 2")
    (dup,) = findings(validate_dataset(tmp_path), "duplicates")
    assert dup.indices == (24,) and dup.other["file_indices"] == [4] and dup.other["other_indices"] == [11]
    assert dup.file == "cifar-10-batches-py/data_batch_2"


def test_image_folder_leakage_names_the_files(tmp_path, write, findings):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 12, 12, 3), dtype=np.uint8)
    val = rng.integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    val[1] = train[2]
    write.images(tmp_path, train=(train, np.arange(6) % 2), val=(val, np.arange(4) % 2))
    (leak,) = findings(validate_dataset(tmp_path), "leakage")
    assert leak.split == "val" and leak.other["files"] == ["val/c1/img0001.png"]
    assert leak.indices == (2,) and leak.other["other_indices"] == [1]  # train/c0/img0002.png is sample 1


def test_unlabelled_split_still_finds_duplicates(tmp_path, write, findings):
    x, _ = write.balanced(10, (3,))
    x[7] = x[1]
    np.save(tmp_path / "train_x.npy", x)
    report = validate_dataset(tmp_path)
    (dup,) = findings(report, "duplicates")
    assert dup.indices == (7,) and findings(report, "conflicts") == []


def test_pairs_keep_labels_aligned():
    pairs = identity.Pairs()
    pairs.add([3, 1], [0, 0], [1.0, 2.0], [5.0, 5.0])
    indices, partners, labels, partner_labels = pairs.arrays()
    assert indices.tolist() == [3, 1] and labels.tolist() == [1.0, 2.0]


def _blocks(rng, n, size=32):
    """Distinct images made of random 4x4 blocks, smooth enough for perceptual hashes."""
    small = rng.integers(0, 256, (n, size // 4, size // 4, 3))
    return np.kron(small, np.ones((1, 4, 4, 1))).astype(np.uint8)


def test_near_duplicate_images(tmp_path, write, findings):
    rng = np.random.default_rng(3)
    train, val = _blocks(rng, 12), _blocks(rng, 6)
    # val 2 is train 7 slightly brighter with noise: not identical, but near.
    val[2] = np.clip(train[7].astype(int) + 6 + rng.integers(-3, 4, train[7].shape), 0, 255).astype(np.uint8)
    train[10] = np.clip(train[4].astype(int) - 5, 0, 255).astype(np.uint8)
    write.npy_pairs(tmp_path, train=(train, np.arange(12) % 3), val=(val, np.arange(6) % 3))
    report = validate_dataset(tmp_path)
    assert findings(report, "near_duplicates") == [] and report.checks_run["near_duplicates"] == "off"
    assert findings(report, "leakage") == []
    report = validate_dataset(tmp_path, _config(near_duplicates={"level": "warn", "distance": 6}))
    near = {(f.split, f.other["other_split"]): f for f in findings(report, "near_duplicates")}
    assert near[("val", "train")].indices == (2,) and near[("val", "train")].other["other_indices"] == [7]
    within = near[("train", "train")]
    assert within.indices == (4, 10) and within.other["other_indices"] == [10, 4]
    assert all(f.level == "warn" for f in near.values())


def test_near_duplicates_with_ahash_in_image_folders(tmp_path, write, findings):
    rng = np.random.default_rng(5)
    train = _blocks(rng, 6)
    val = _blocks(rng, 3)
    val[0] = np.clip(train[3].astype(int) + 4, 0, 255).astype(np.uint8)
    write.images(tmp_path, train=(train, np.zeros(6, int)), val=(val, np.zeros(3, int)))
    report = validate_dataset(tmp_path, _config(near_duplicates={"level": "error", "hash": "ahash", "distance": 2}))
    (near,) = findings(report, "near_duplicates")
    assert near.split == "val" and near.indices == (0,) and near.other["other_indices"] == [3]
    assert near.level == "error" and not report.ok


def test_near_duplicates_on_tabular_data_is_a_note(tmp_path, write, findings):
    write.npy_pairs(tmp_path, train=write.balanced(10, (5,)))
    report = validate_dataset(tmp_path, _config(near_duplicates="warn"))
    (note,) = findings(report, "near_duplicates")
    assert note.level == "info" and "not image-like" in note.message
    assert report.checks_run["near_duplicates"] == "off"


def test_banded_search_finds_exactly_the_close_pairs():
    from stager.data.checks.near_duplicates import close_pairs

    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, size=60, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=(60, 3)).astype(np.uint64)
    variants = base ^ flips[:, 0] ^ (flips[:, 1] * (rng.random(60) < 0.5).astype(np.uint64))
    hashes = np.unique(np.concatenate([base, variants]))
    found = {tuple(p) for p in close_pairs(hashes, 3).tolist()}
    brute = {(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
             if 1 <= int(np.bitwise_count(hashes[i] ^ hashes[j])) <= 3}
    assert found == brute and len(brute) >= 50
