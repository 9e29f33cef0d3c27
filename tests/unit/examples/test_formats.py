"""MNIST IDX and CIFAR-10 pickle readers/writers, and the synthetic generators."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from stager.errors import UsageError
from stager.examples import formats, synthetic


def test_idx_round_trip_plain_and_gz(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    for suffix in ("", ".gz"):
        img_path = formats.write_idx(tmp_path / f"images{suffix}", images)
        lbl_path = formats.write_idx(tmp_path / f"labels{suffix}", labels)
        np.testing.assert_array_equal(formats.read_idx(img_path, formats.IDX_IMAGES_MAGIC), images)
        np.testing.assert_array_equal(formats.read_idx(lbl_path, formats.IDX_LABELS_MAGIC), labels)
    # The .gz file really is gzip and holds the official header.
    raw = gzip.decompress((tmp_path / "images.gz").read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (0x00000803, 7, 28, 28)


def test_truncated_idx_names_the_file(tmp_path):
    path = formats.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UsageError, match=r"train-images-idx3-ubyte: truncated IDX data") as info:
        formats.read_idx(path, formats.IDX_IMAGES_MAGIC)
    assert "\n" not in str(info.value)


def test_idx_bad_magic_and_corrupt_gz(tmp_path):
    labels = formats.write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(UsageError, match="labels: bad IDX magic 0x00000801, expected 0x00000803"):
        formats.read_idx(labels, formats.IDX_IMAGES_MAGIC)
    broken = tmp_path / "t10k-images-idx3-ubyte.gz"
    broken.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(UsageError, match="t10k-images-idx3-ubyte.gz: cannot read"):
        formats.read_idx(broken)


def test_cifar_batch_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1])
    path = formats.write_cifar_batch(tmp_path / "data_batch_1", images, labels, "training batch 1 of 5")
    got_images, got_labels = formats.read_cifar_batch(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    # The stored layout is the official one: bytes keys, N x 3072 rows of R, G, B planes.
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].shape == (5, 3072)
    np.testing.assert_array_equal(batch[b"data"][1, 1024:2048], images[1, 1].ravel())  # green plane
    assert batch[b"labels"] == [0, 9, 3, 3, 1]


def test_cifar_reader_accepts_protocol_2_numpy_pickles(tmp_path):
    # What Python 2 / older tools wrote: protocol 2, whose bytes go through _codecs.encode.
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "test_batch"
    raw = pickle.dumps({b"data": data, b"labels": [4, 5], b"batch_label": b"x", b"filenames": []}, protocol=2)
    # numpy 1 (which wrote the official files) names the module numpy.core, numpy 2 numpy._core.
    for module in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        path.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"c" + module + b"\n"))
        images, labels = formats.read_cifar_batch(path)
        assert images.shape == (2, 3, 32, 32) and labels.tolist() == [4, 5]
        np.testing.assert_array_equal(images.reshape(2, 3072), data)


def test_corrupt_pickle_names_the_file(tmp_path):
    path = formats.write_cifar_batch(tmp_path / "data_batch_2", np.zeros((4, 3, 32, 32), np.uint8), [1, 2, 3, 4], "b")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(UsageError, match=r"data_batch_2: not a readable pickle") as info:
        formats.read_cifar_batch(path)
    assert "\n" not in str(info.value)


def test_wrong_shape_batch_is_refused(tmp_path):
    path = tmp_path / "data_batch_3"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(UsageError, match=r"data_batch_3: not a CIFAR-10 batch \(data must be uint8 N x 3072"):
        formats.read_cifar_batch(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > should-not-exist",))


def test_restricted_unpickler_refuses_arbitrary_globals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(UsageError, match=r"data_batch_1: .*refusing to load global (posix|nt|os)\.system"):
        formats.read_cifar_batch(path)
    assert not (tmp_path / "should-not-exist").exists()
    # A codec other than latin1 is refused too, although _codecs.encode itself is allowed.
    evil = tmp_path / "batches.meta"
    evil.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(UsageError, match="batches.meta: .*refusing _codecs.encode with codec 'rot13'"):
        formats.restricted_load(evil)


def test_synthetic_mnist_is_deterministic_and_readable(tmp_path):
    synthetic.write_mnist(tmp_path / "a", n_train=50, n_test=20, seed=3)
    synthetic.write_mnist(tmp_path / "b", n_train=50, n_test=20, seed=3, gz=True)
    for name in formats.MNIST_FILES.values():
        plain = (tmp_path / "a" / name).read_bytes()
        assert plain == gzip.decompress((tmp_path / "b" / f"{name}.gz").read_bytes())
    images, labels = formats.read_mnist_split(tmp_path / "b", "train")
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10
    synthetic.write_mnist(tmp_path / "c", n_train=50, n_test=20, seed=4)
    name = "train-images-idx3-ubyte"
    assert (tmp_path / "c" / name).read_bytes() != (tmp_path / "a" / name).read_bytes()


def test_synthetic_cifar_layout_and_both_locations(tmp_path):
    folder = synthetic.write_cifar10(tmp_path, n_per_batch=20, n_test=10, seed=0)
    assert folder == tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*formats.CIFAR_TRAIN_BATCHES, formats.CIFAR_TEST_BATCH, formats.CIFAR_META]
    )
    assert formats.read_cifar_meta(folder / "batches.meta")[0] == "airplane"
    train_images, train_labels = formats.read_cifar_split(tmp_path, "train")  # parent folder
    test_images, _ = formats.read_cifar_split(folder, "test")  # the batch folder itself
    assert train_images.shape == (100, 3, 32, 32) and len(train_labels) == 100
    assert test_images.shape == (10, 3, 32, 32)
    again = synthetic.write_cifar10(tmp_path / "again", n_per_batch=20, n_test=10, seed=0)
    assert (again / "data_batch_5").read_bytes() == (folder / "data_batch_5").read_bytes()


def test_synthetic_classes_are_separable(tmp_path):
    """Nearest class mean on the raw pixels already beats chance by far, so a
    trained model has something real to learn."""
    synthetic.write_mnist(tmp_path, n_train=1000, n_test=300, seed=0)
    x, y = formats.read_mnist_split(tmp_path, "train")
    xt, yt = formats.read_mnist_split(tmp_path, "test")
    means = np.stack([x[y == c].reshape(-1, 784).mean(0) for c in range(10)])
    dist = ((xt.reshape(-1, 1, 784).astype(np.float32) - means[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == yt).mean() > 0.5


def test_missing_mnist_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no train-images-idx3-ubyte"):
        formats.read_mnist_split(tmp_path, "train")
