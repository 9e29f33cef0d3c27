"""Every layout is recognised, and a clean dataset in each passes with no error and no warning."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from stager.data.layout import LAYOUTS, detect_layout
from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset
from stager.errors import UsageError
from stager.examples import formats, synthetic


def _clean(report):
    assert report.ok, [f.message for f in report.findings]
    assert [f for f in report.findings if f.level != "info"] == []


def test_npy_pairs(tmp_path, write):
    root = write.npy_pairs(tmp_path / "d", train=write.balanced(120, (6,)), val=write.balanced(40, (6,), seed=1),
                           test=write.balanced(40, (6,), seed=2))
    report = validate_dataset(root)
    _clean(report)
    assert report.layout == "npy-pairs"
    assert list(report.splits) == ["train", "val", "test"]
    train = report.splits["train"]
    assert train["count"] == 120 and train["inputs"]["shape"] == [6] and train["inputs"]["dtype"] == "float32"
    assert train["labels"]["counts"] == {"0": 30, "1": 30, "2": 30, "3": 30}
    assert train["labels"]["imbalance"] == 1.0
    assert train["inputs"]["summary"] == "features" and len(train["inputs"]["means"]) == 6


@pytest.mark.parametrize("compressed", [False, True])
def test_npz(tmp_path, write, compressed):
    root = write.npz(tmp_path / "d", compressed=compressed, train=write.balanced(100, (3, 16, 16), dtype=np.uint8),
                     val=write.balanced(40, (3, 16, 16), seed=1, dtype=np.uint8))
    report = validate_dataset(root)
    _clean(report)
    assert report.layout == "npz"
    assert report.splits["val"]["inputs"]["summary"] == "channels"
    assert report.splits["val"]["inputs"]["names"] == ["channel 0", "channel 1", "channel 2"]


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_at_the_top(tmp_path, gz):
    root = synthetic.write_mnist(tmp_path / "mnist", n_train=300, n_test=100, gz=gz)
    report = validate_dataset(root)
    _clean(report)
    assert report.layout == "idx" and list(report.splits) == ["train", "test"]
    assert report.splits["train"]["inputs"]["shape"] == [28, 28]


def test_mnist_idx_in_split_folders(tmp_path):
    for seed, split in enumerate(("train", "val")):
        x = np.random.default_rng(seed).integers(0, 256, (50, 28, 28), dtype=np.uint8)
        formats.write_idx(tmp_path / split / "digits-images-idx3-ubyte.gz", x)
        formats.write_idx(tmp_path / split / "digits-labels-idx1-ubyte.gz", (np.arange(50) % 10).astype(np.uint8))
    report = validate_dataset(tmp_path)
    _clean(report)
    assert report.layout == "idx" and list(report.splits) == ["train", "val"]


def test_torchvision_mnist_raw_folder(tmp_path):
    synthetic.write_mnist(tmp_path / "MNIST" / "raw", n_train=60, n_test=20)
    assert detect_layout(tmp_path) == "idx"
    _clean(validate_dataset(tmp_path))


@pytest.mark.parametrize("nested", [True, False])
def test_cifar(tmp_path, nested):
    folder = synthetic.write_cifar10(tmp_path / "c", n_per_batch=60, n_test=60, n_batches=2)
    root = tmp_path / "c"
    if not nested:
        root = folder  # the batches directly in the dataset folder
    report = validate_dataset(root)
    _clean(report)
    assert report.layout == "cifar"
    assert report.splits["train"]["count"] == 120 and report.splits["test"]["count"] == 60
    assert report.splits["train"]["files"] == 2


def test_csv(tmp_path, write):
    root = write.csv(tmp_path / "d", train=write.balanced(80, (5,)), val=write.balanced(20, (5,), seed=3))
    report = validate_dataset(root)
    _clean(report)
    assert report.layout == "csv"
    assert report.splits["train"]["inputs"]["names"] == ["f0", "f1", "f2", "f3", "f4"]


def test_csv_with_text_labels_and_a_text_column(tmp_path):
    header = "id,height,weight,species"
    rows = [f"a{i},{1 + i},{2 + i % 5}.5,{'cat' if i % 2 else 'dog'}" for i in range(50)]
    (tmp_path / "train.csv").write_text("\n".join([header] + rows[:40]) + "\n")
    (tmp_path / "val.csv").write_text("\n".join([header] + rows[40:]) + "\n")
    missing = validate_dataset(tmp_path)
    assert [(f.level, f.split, f.message) for f in missing.findings if f.level == "error"] == [
        ("error", "train", "train.csv: no label column `label` (columns: id, height, weight, species); "
                           "set label_column under validate"),
        ("error", "val", "val.csv: no label column `label` (columns: id, height, weight, species); "
                         "set label_column under validate")]
    report = validate_dataset(tmp_path, ValidationConfig.from_mapping({"label_column": "species"}))
    assert report.ok
    assert report.splits["train"]["inputs"]["names"] == ["height", "weight"]
    assert report.splits["train"]["labels"]["names"] == ["cat", "dog"]
    notes = [f for f in report.findings if f.level == "info"]
    assert notes and "text columns left out of the checks: id" in notes[0].message


def test_image_folders_png_and_jpeg(tmp_path, write):
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8), np.arange(12) % 3)
    val = (rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), np.arange(6) % 3)
    write.images(tmp_path, train=train)
    write.images(tmp_path, fmt="jpg", val=val)
    report = validate_dataset(tmp_path)
    _clean(report)
    assert report.layout == "image-folders"
    assert report.splits["train"]["inputs"]["shape"] == [16, 16, 3]
    assert report.splits["val"]["labels"]["names"] == ["c0", "c1", "c2"]


def test_empty_folder(tmp_path):
    with pytest.raises(UsageError, match=r"the folder is empty; accepted layouts: npz: train.npz"):
        validate_dataset(tmp_path)


def test_missing_folder_and_a_file(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        validate_dataset(tmp_path / "nope")
    (tmp_path / "f.npy").write_bytes(b"")
    with pytest.raises(UsageError, match="not a folder"):
        validate_dataset(tmp_path / "f.npy")


def test_unknown_layout_lists_what_is_accepted(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "weights").mkdir()
    with pytest.raises(UsageError) as info:
        validate_dataset(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "found notes.txt, weights/" in message
    for name in LAYOUTS:
        assert f"{name}:" in message
    assert "\n" not in message


def test_two_layouts_in_one_folder(tmp_path, write):
    write.npy_pairs(tmp_path, train=write.balanced(10, (2,)))
    write.csv(tmp_path, train=write.balanced(10, (2,)))
    with pytest.raises(UsageError, match="mixes the layouts npy-pairs and csv"):
        validate_dataset(tmp_path)


def test_gzip_copy_of_a_layout_file_is_not_a_layout(tmp_path):
    # Only the documented names count: a stray compressed file is not mistaken for data.
    with gzip.open(tmp_path / "train.csv.gz", "wb") as f:
        f.write(b"a,label\n1,0\n")
    with pytest.raises(UsageError, match="no known dataset layout"):
        validate_dataset(tmp_path)
