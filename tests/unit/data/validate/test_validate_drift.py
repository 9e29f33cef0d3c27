"""drift: schema and distribution changes against the previous report's statistics."""

from __future__ import annotations

import json

import numpy as np

from stager.data.checks.drift import label_tv
from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset


def _data(rng, n, shift=0.0, scale=1.0, features=6):
    x = (rng.standard_normal((n, features)) * scale + shift).astype(np.float32)
    return x, np.arange(n) % 4


def _previous(write, root, rng):
    write.npy_pairs(root, train=_data(rng, 400), val=_data(rng, 100))
    report = validate_dataset(root)
    # The manifest stores the statistics as JSON: drift must work from what comes back.
    return json.loads(json.dumps(report.splits))


def test_unchanged_data_does_not_drift(tmp_path, write, findings):
    rng = np.random.default_rng(0)
    previous = _previous(write, tmp_path / "v1", rng)
    write.npy_pairs(tmp_path / "v2", train=_data(rng, 400), val=_data(rng, 100))
    report = validate_dataset(tmp_path / "v2", previous_splits=previous)
    assert findings(report, "drift") == [] and report.checks_run["drift"] == "warn"
    assert validate_dataset(tmp_path / "v2").checks_run["drift"] == "off"  # nothing to compare with


def test_shifted_mean_and_spread(tmp_path, write, findings):
    rng = np.random.default_rng(1)
    previous = _previous(write, tmp_path / "v1", rng)
    x, y = _data(rng, 400)
    x[:, 2] += 3.0  # three standard deviations
    x[:, 4] *= 5.0
    write.npy_pairs(tmp_path / "v2", train=(x, y), val=_data(rng, 100))
    report = validate_dataset(tmp_path / "v2", previous_splits=previous)
    (drift,) = findings(report, "drift")
    assert drift.split == "train" and drift.level == "warn" and drift.other["kind"] == "distribution"
    moved = {m["feature"]: m for m in drift.other["features"]}
    assert set(moved) == {"2", "4"}
    assert 2.5 < moved["2"]["shift"] < 3.5 and moved["4"]["std_ratio"] > 4
    assert report.ok  # warn by default
    strict = ValidationConfig.from_mapping({"drift": {"level": "error", "max_mean_shift": 5, "max_std_ratio": 10}})
    assert findings(validate_dataset(tmp_path / "v2", strict, previous_splits=previous), "drift") == []


def test_new_class_and_label_distribution(tmp_path, write, findings):
    rng = np.random.default_rng(2)
    previous = _previous(write, tmp_path / "v1", rng)
    x, _ = _data(rng, 400)
    write.npy_pairs(tmp_path / "v2", train=(x, np.arange(400) % 5), val=(_data(rng, 100)[0], np.r_[[0] * 70, [1] * 30]))
    report = validate_dataset(tmp_path / "v2", previous_splits=previous)
    by_split = {f.split: f for f in findings(report, "drift")}
    assert by_split["train"].other["kind"] == "schema" and "new classes 4" in by_split["train"].message
    assert by_split["val"].other["kind"] == "schema" and "classes gone 2, 3" in by_split["val"].message


def test_label_distribution_shift_alone(tmp_path, write, findings):
    rng = np.random.default_rng(3)
    previous = _previous(write, tmp_path / "v1", rng)
    x, _ = _data(rng, 400)
    y = np.r_[[0] * 190, [1] * 70, [2] * 70, [3] * 70]  # every class still there, much more of class 0
    write.npy_pairs(tmp_path / "v2", train=(x, y), val=_data(rng, 100))
    (drift,) = findings(validate_dataset(tmp_path / "v2", previous_splits=previous), "drift")
    assert drift.other == {"kind": "labels", "tv": 0.225}
    assert "total variation 0.225 > 0.1" in drift.message


def test_changed_shape_and_split_changes(tmp_path, write, findings):
    rng = np.random.default_rng(4)
    previous = _previous(write, tmp_path / "v1", rng)
    write.npy_pairs(tmp_path / "v2", train=_data(rng, 400, features=7), test=_data(rng, 50, features=7))
    report = validate_dataset(tmp_path / "v2", previous_splits=previous)
    messages = {f.split: f.message for f in findings(report, "drift")}
    assert messages["train"] == "schema changed: sample shape [6] -> [7]"
    assert messages["val"] == "split val was in the previous version, not in this one"
    assert messages["test"] == "split test is new since the previous version"


def test_csv_column_rename(tmp_path, write, findings):
    rng = np.random.default_rng(5)
    x, y = _data(rng, 50, features=3)
    write.csv(tmp_path / "v1", train=(x, y))
    previous = validate_dataset(tmp_path / "v1").splits
    write.csv(tmp_path / "v2", train=(x, y))
    path = tmp_path / "v2" / "train.csv"
    path.write_text(path.read_text().replace("f1,", "height,", 1))
    (drift,) = findings(validate_dataset(tmp_path / "v2", previous_splits=previous), "drift")
    assert drift.message == "schema changed: columns changed: new height; gone f1"


def test_label_tv():
    assert label_tv({"0": 5, "1": 5}, {"0": 5, "1": 5}) == 0
    assert label_tv({"0": 10}, {"1": 3}) == 1.0
    assert label_tv({}, {"0": 1}) is None
