"""finite, range, labels and shapes: planted defects found at the right split, file and index."""

from __future__ import annotations

import numpy as np
import pytest

from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset


def _config(**mapping):
    return ValidationConfig.from_mapping(mapping)


def test_nan_and_inf_indices(tmp_path, write, findings):
    x, y = write.balanced(100, (3, 4))
    x[17, 1, 2] = np.nan
    x[42, 0, 0] = -np.inf
    write.npy_pairs(tmp_path, train=(x, y), val=write.balanced(20, (3, 4), seed=1))
    report = validate_dataset(tmp_path)
    (finite,) = findings(report, "finite")
    assert (finite.split, finite.file, finite.indices, finite.count) == ("train", "train_x.npy", (17, 42), 2)
    assert finite.message == "NaN or Inf in 2 samples" and finite.level == "error"
    # Statistics skip the bad values instead of turning into NaN.
    assert report.splits["train"]["inputs"]["mean"] is not None


def test_nan_labels_are_a_finite_finding(tmp_path, write, findings):
    x, y = write.balanced(30, (2,))
    write.npy_pairs(tmp_path, train=(x, y.astype(np.float64)))
    y = np.load(tmp_path / "train_y.npy")
    y[4] = np.nan
    np.save(tmp_path / "train_y.npy", y)
    report = validate_dataset(tmp_path)
    (finite,) = findings(report, "finite")
    assert finite.indices == (4,) and finite.file == "train_y.npy" and finite.message == "NaN or Inf in 1 label"


def test_range(tmp_path, write, findings):
    x, y = write.balanced(60, (8, 8), dtype=np.uint8)
    x = x.astype(np.float32)
    x[5, 0, 0], x[9, 3, 3] = -1.0, 256.0
    write.npy_pairs(tmp_path, train=(x, y))
    assert findings(validate_dataset(tmp_path), "range") == []  # no bounds: nothing to compare with
    report = validate_dataset(tmp_path, _config(range={"min": 0, "max": 255}))
    below, above = findings(report, "range")
    assert below.indices == (5,) and below.message == "values below 0 in 1 sample (lowest -1)"
    assert above.indices == (9,) and above.message == "values above 255 in 1 sample (highest 256)"
    assert report.checks_run["range"] == "error"
    report = validate_dataset(tmp_path, _config(range={"level": "warn", "min": 0}))
    assert [f.level for f in findings(report, "range")] == ["warn"] and report.ok


def test_labels_out_of_range_at_known_indices(tmp_path, write, findings):
    x, y = write.balanced(50, (2,), classes=5)
    y[[3, 31]] = [5, -1]
    write.npy_pairs(tmp_path, train=(x, y))
    report = validate_dataset(tmp_path, _config(labels={"num_classes": 5}))
    (bad,) = findings(report, "labels")
    assert bad.indices == (3, 31) and bad.count == 2 and bad.file == "train_y.npy"
    assert bad.message == "2 labels outside 0..4 (expected from num_classes 5)"
    report = validate_dataset(tmp_path, _config(labels={"min": 0, "max": 9}))
    outside, missing = sorted(findings(report, "labels"), key=lambda f: f.message)
    assert outside.indices == (31,) and outside.message == "1 label outside 0..9 (expected from labels min 0 max 9)"
    assert missing.message == "no samples in train for 4 classes: 6, 7, 8, 9"


def test_inferred_classes_flag_labels_unseen_in_train(tmp_path, write, findings):
    train = write.balanced(40, (2,), classes=4)
    x_val, y_val = write.balanced(12, (2,), classes=4, seed=1)
    y_val[6] = 9
    write.npy_pairs(tmp_path, train=train, val=(x_val, y_val))
    report = validate_dataset(tmp_path)
    (bad,) = findings(report, "labels", "val")
    assert bad.indices == (6,) and "outside 0..3 (expected from labels seen in train)" in bad.message


def test_class_missing_from_val(tmp_path, write, findings):
    x_val, y_val = write.balanced(30, (2,), classes=3, seed=1)  # classes 0..2 only
    write.npy_pairs(tmp_path, train=write.balanced(40, (2,), classes=4), val=(x_val, y_val))
    report = validate_dataset(tmp_path)
    (missing,) = findings(report, "labels", "val")
    assert missing.message == "no samples in val for 1 class: 3" and missing.other["missing_classes"] == [3]


def test_class_missing_from_image_folders_named(tmp_path, write, findings):
    rng = np.random.default_rng(0)
    write.images(tmp_path, train=(rng.integers(0, 256, (9, 12, 12), dtype=np.uint8), np.arange(9) % 3),
                 val=(rng.integers(0, 256, (4, 12, 12), dtype=np.uint8), np.arange(4) % 2))
    (missing,) = findings(validate_dataset(tmp_path), "labels", "val")
    assert missing.message == "no samples in val for 1 class: 2 (c2)"


def test_imbalance_above_the_threshold(tmp_path, write, findings):
    x, _ = write.balanced(90, (2,))
    y = np.array([0] * 75 + [1] * 10 + [2] * 5)
    write.npy_pairs(tmp_path, train=(x, y))
    report = validate_dataset(tmp_path)
    assert findings(report, "labels") == [] and report.splits["train"]["labels"]["imbalance"] == 15.0
    report = validate_dataset(tmp_path, _config(labels={"max_imbalance": 10}))
    (imbalance,) = findings(report, "labels")
    assert imbalance.other == {"ratio": 15.0, "largest": 0, "smallest": 2}
    assert "class imbalance 15.0 is above max_imbalance 10" in imbalance.message
    report = validate_dataset(tmp_path, _config(labels={"max_imbalance": 20}))
    assert findings(report, "labels") == []


def test_fractional_labels(tmp_path, write, findings):
    x, _ = write.balanced(10, (2,))
    y = np.arange(10, dtype=np.float32)
    y[[2, 8]] = [0.5, 7.25]
    write.npy_pairs(tmp_path, train=(x, y))
    (bad,) = [f for f in findings(validate_dataset(tmp_path), "labels") if "whole" in f.message]
    assert bad.indices == (2, 8) and "set labels: off" in bad.message
    assert findings(validate_dataset(tmp_path, _config(labels="off")), "labels") == []


def test_inputs_and_labels_of_different_length(tmp_path, write, findings):
    x, y = write.balanced(20, (2,))
    write.npy_pairs(tmp_path, train=(x, y[:18]))
    (bad,) = findings(validate_dataset(tmp_path), "shapes")
    assert bad.message == "20 inputs but 18 labels (train_x.npy has 20, train_y.npy has 18)"
    assert bad.split == "train" and bad.count == 2


def test_shape_and_dtype_differ_across_splits(tmp_path, write, findings):
    write.npy_pairs(tmp_path, train=write.balanced(20, (4,)), val=write.balanced(10, (5,), seed=1, dtype=np.float64))
    (bad,) = findings(validate_dataset(tmp_path), "shapes")
    assert bad.split == "val" and bad.other["other_split"] == "train"
    assert bad.message == "samples are 5, train's are 4; inputs are float64, train's are float32"


def test_one_hot_labels(tmp_path, write, findings):
    x, y = write.balanced(12, (2,))
    write.npy_pairs(tmp_path, train=(x, np.eye(4)[y]))
    (bad,) = findings(validate_dataset(tmp_path), "shapes")
    assert "labels are 4 per sample, not one class id (one-hot? store the class index)" in bad.message


def test_images_of_mixed_sizes(tmp_path, write, findings):
    rng = np.random.default_rng(0)
    write.images(tmp_path, train=(rng.integers(0, 256, (6, 16, 16), dtype=np.uint8), np.arange(6) % 2))
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (20, 16), dtype=np.uint8)).save(tmp_path / "train" / "c1" / "img0099.png")
    (bad,) = findings(validate_dataset(tmp_path), "shapes")
    assert bad.indices == (6,) and bad.other["files"] == ["train/c1/img0099.png"]
    assert bad.message == "1 sample not 16x16 like the rest: 16x16 (6), 20x16 (1)"


def test_idx_pair_of_different_lengths_in_a_split_folder(tmp_path, findings):
    from stager.examples import formats

    formats.write_idx(tmp_path / "train" / "a-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    formats.write_idx(tmp_path / "train" / "a-labels-idx1-ubyte", np.zeros(4, np.uint8))
    (bad,) = findings(validate_dataset(tmp_path), "shapes")
    assert bad.message.startswith("5 inputs but 4 labels")


@pytest.mark.parametrize("level", ["error", "warn", "off"])
def test_levels_decide_what_a_finding_means(tmp_path, write, findings, level):
    x, y = write.balanced(30, (2,))
    x[17, 0] = np.nan
    write.npy_pairs(tmp_path, train=(x, y))
    report = validate_dataset(tmp_path, _config(finite=level))
    found = findings(report, "finite")
    assert report.checks_run["finite"] == level
    assert [f.level for f in found] == ([] if level == "off" else [level])
    assert report.ok == (level != "error")
