"""The files check: every broken file is named, and the rest of the dataset is still checked."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset
from stager.examples import formats, synthetic


def _files(report):
    return {f.file: f for f in report.findings if f.check == "files"}


def test_truncated_npy_is_named_and_the_other_split_still_checked(tmp_path, write, findings):
    x_val, y_val = write.balanced(20, (4,), seed=1)
    x_val[3, 0] = np.inf
    write.npy_pairs(tmp_path, train=write.balanced(50, (4,)), val=(x_val, y_val))
    raw = (tmp_path / "train_x.npy").read_bytes()
    (tmp_path / "train_x.npy").write_bytes(raw[:-37])
    report = validate_dataset(tmp_path)
    broken = _files(report)["train_x.npy"]
    assert broken.level == "error" and broken.split == "train"
    assert "truncated: header says (50, 4) float32 (800 bytes of data), the file has 763" in broken.message
    assert findings(report, "finite", "val")[0].indices == (3,)
    assert not report.ok


@pytest.mark.parametrize(("content", "expected"), [
    (b"just some text, not an array", "not a .npy array (no NUMPY magic)"),
    (b"\x93NUMPY\x01\x00", "unreadable .npy header"),
])
def test_not_an_npy(tmp_path, write, content, expected):
    write.npy_pairs(tmp_path, train=write.balanced(10, (2,)))
    (tmp_path / "train_y.npy").write_bytes(content)
    assert expected in _files(validate_dataset(tmp_path))["train_y.npy"].message


def test_object_arrays_are_never_unpickled(tmp_path, write):
    x, _ = write.balanced(3, (2,))
    np.save(tmp_path / "train_x.npy", x)
    np.save(tmp_path / "train_y.npy", np.array([os.getcwd, 1, 2], dtype=object), allow_pickle=True)
    finding = _files(validate_dataset(tmp_path))["train_y.npy"]
    assert "holds Python objects (a pickle), which stager never loads" in finding.message


def test_missing_label_file(tmp_path, write):
    x, _ = write.balanced(10, (2,))
    np.save(tmp_path / "train_x.npy", x)
    finding = _files(validate_dataset(tmp_path))["train_y.npy"]
    assert finding.message == "train_y.npy: missing (train_x.npy has no labels)"


def test_npz_without_y_and_a_damaged_npz(tmp_path, write):
    x, y = write.balanced(30, (4,))
    np.savez(tmp_path / "train.npz", x=x, labels=y)
    write.npz(tmp_path, val=write.balanced(10, (4,), seed=2))
    raw = (tmp_path / "val.npz").read_bytes()
    (tmp_path / "val.npz").write_bytes(raw[: len(raw) // 2])
    found = _files(validate_dataset(tmp_path))
    assert "no array `y` (arrays: labels, x)" in found["train.npz"].message
    assert "not a readable .npz" in found["val.npz"].message


def test_corrupt_member_of_a_compressed_npz(tmp_path, write):
    x = np.random.default_rng(0).random((2000, 16)).astype(np.float32)
    write.npz(tmp_path, compressed=True, train=(x, np.arange(2000) % 4))
    # Flip bytes in the middle of the compressed x member: the zip directory stays readable.
    with zipfile.ZipFile(tmp_path / "train.npz") as zf:
        info = zf.getinfo("x.npy")
    raw = bytearray((tmp_path / "train.npz").read_bytes())
    middle = info.header_offset + 100 + info.compress_size // 2
    raw[middle:middle + 64] = bytes(64)
    (tmp_path / "train.npz").write_bytes(bytes(raw))
    finding = _files(validate_dataset(tmp_path))["train.npz"]
    assert "corrupt" in finding.message and finding.split == "train"


def test_corrupt_and_truncated_images(tmp_path, write, findings):
    rng = np.random.default_rng(0)
    write.images(tmp_path, train=(rng.integers(0, 256, (8, 20, 20, 3), dtype=np.uint8), np.arange(8) % 2),
                 val=(rng.integers(0, 256, (4, 20, 20, 3), dtype=np.uint8), np.arange(4) % 2))
    truncated = tmp_path / "train" / "c1" / "img0003.png"
    truncated.write_bytes(truncated.read_bytes()[:-200])  # header intact: only decoding finds it
    (tmp_path / "val" / "c0" / "img0002.png").write_bytes(b"not a png at all")
    report = validate_dataset(tmp_path)
    found = _files(report)
    train = found["train/c1/img0003.png"]
    assert train.split == "train" and train.level == "error"
    # Samples are numbered by class folder, then by name: c0 holds 4 images, c1's img0003 is the 6th.
    assert train.indices == (5,)
    assert "not a decodable image" in found["val/c0/img0002.png"].message
    assert report.splits["train"]["unread"] == 1


def test_many_broken_images_make_one_finding(tmp_path, write):
    rng = np.random.default_rng(0)
    write.images(tmp_path, train=(rng.integers(0, 256, (6, 10, 10), dtype=np.uint8), np.zeros(6, int)))
    for i in range(4):
        (tmp_path / "train" / "c0" / f"img{i:04d}.png").write_bytes(b"broken")
    report = validate_dataset(tmp_path, ValidationConfig.from_mapping({"sample_limit": 3}))
    (finding,) = [f for f in report.findings if f.check == "files"]
    assert finding.count == 4 and finding.indices == (0, 1, 2) and finding.file == "train"
    assert finding.other["files"] == ["train/c0/img0000.png", "train/c0/img0001.png", "train/c0/img0002.png"]


def test_idx_wrong_magic_and_wrong_length(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=30, n_test=10)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(struct.pack(">I", 0x0801) + images.read_bytes()[4:])
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    found = _files(validate_dataset(tmp_path))
    assert found["train-images-idx3-ubyte"].message == (
        "train-images-idx3-ubyte: bad IDX magic 0x00000801, expected 0x00000803")
    assert "truncated IDX data: header (10,) needs 10 bytes, file has 7" in found["t10k-labels-idx1-ubyte"].message


def test_idx_gz_truncated(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=30, n_test=10, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    finding = _files(validate_dataset(tmp_path))["train-images-idx3-ubyte.gz"]
    assert finding.split == "train" and "cannot read" in finding.message


def test_idx_missing_half_of_a_pair(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=30, n_test=10)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    finding = _files(validate_dataset(tmp_path))["t10k-labels-idx1-ubyte"]
    assert finding.split == "test" and "missing" in finding.message


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_bad_and_hostile_batches(tmp_path):
    folder = synthetic.write_cifar10(tmp_path, n_per_batch=20, n_test=20, n_batches=3)
    (folder / "data_batch_2").write_bytes(pickle.dumps(_Evil()))
    (folder / "test_batch").write_bytes(b"\x80\x04garbage")
    report = validate_dataset(tmp_path)
    found = _files(report)
    assert "refusing to load global posix.system" in found["cifar-10-batches-py/data_batch_2"].message
    assert "not a readable pickle" in found["cifar-10-batches-py/test_batch"].message
    # The two good batches are still read and checked.
    assert report.splits["train"]["count"] == 40


def test_cifar_labels_out_of_range_are_a_labels_finding_not_a_broken_file(tmp_path, findings):
    folder = synthetic.write_cifar10(tmp_path, n_per_batch=30, n_test=30, n_batches=2)
    images, labels = formats.read_cifar_batch(folder / "data_batch_2")
    labels[7] = 12
    formats.write_cifar_batch(folder / "data_batch_2", images, labels, "training batch 2 of 2")
    report = validate_dataset(tmp_path, ValidationConfig.from_mapping({"labels": {"num_classes": 10}}))
    assert _files(report) == {}
    (bad,) = findings(report, "labels", "train")
    assert bad.indices == (37,) and bad.file == "cifar-10-batches-py/data_batch_2"
    assert bad.other["file_indices"] == [7]


def test_csv_ragged_rows_and_text_in_numbers(tmp_path, findings):
    lines = ["a,b,label"] + [f"{i},{i * 2},{i % 2}" for i in range(20)]
    lines[5] = "4,8"  # sample 4 (line 6): a missing field
    lines[9] = "8,oops,0"  # sample 8: text in a numeric column
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    report = validate_dataset(tmp_path)
    shapes = {f.message: f for f in findings(report, "shapes", "train")}
    assert shapes["train.csv: 1 row without the 3 fields of the header"].indices == (4,)
    assert shapes["train.csv: text in numeric column `b` (1 value)"].indices == (8,)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "train.csv").write_bytes("a,label\n1,\xe9\n".encode("latin-1"))
    finding = _files(validate_dataset(tmp_path))["train.csv"]
    assert "not UTF-8 text" in finding.message


def test_files_check_off_hides_broken_files(tmp_path, write):
    write.npy_pairs(tmp_path, train=write.balanced(10, (2,)), val=write.balanced(10, (2,), seed=1))
    (tmp_path / "val_x.npy").write_bytes(b"broken")
    report = validate_dataset(tmp_path, ValidationConfig.from_mapping({"files": "off"}))
    assert _files(report) == {} and report.checks_run["files"] == "off"
    report = validate_dataset(tmp_path, ValidationConfig.from_mapping({"files": "warn"}))
    assert _files(report)["val_x.npy"].level == "warn" and report.ok


def test_pillow_round_trips_png_pixels():
    # Guards the fixtures: Pillow writes real PNGs that decode back to the same pixels.
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))), pixels)


def test_a_broken_label_file_in_one_of_two_idx_pairs_drops_the_split_labels(tmp_path, findings):
    rng = np.random.default_rng(0)
    for prefix in ("a", "b"):
        formats.write_idx(tmp_path / "train" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28),
                                                                                         dtype=np.uint8))
        formats.write_idx(tmp_path / "train" / f"{prefix}-labels-idx1-ubyte", np.arange(6, dtype=np.uint8) % 3)
    broken = tmp_path / "train" / "a-labels-idx1-ubyte"
    broken.write_bytes(b"\x00\x00\x08\x03" + broken.read_bytes()[4:])
    report = validate_dataset(tmp_path)
    assert "bad IDX magic 0x00000803, expected 0x00000801" in _files(report)["train/a-labels-idx1-ubyte"].message
    # Both image files are still read; no label is paired with the wrong image.
    assert report.splits["train"]["count"] == 12 and report.splits["train"]["labels"] is None
    assert findings(report, "shapes") == [] and findings(report, "labels") == []
