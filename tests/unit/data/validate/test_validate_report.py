"""The report: terminal table, JSON and HTML files; bounded memory; progress."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc

import numpy as np
import pytest
from rich.console import Console

from stager.data.report import render_table, write_report
from stager.data.validate_config import ValidationConfig
from stager.data.validation import validate_dataset
from stager.errors import UsageError


@pytest.fixture
def report(tmp_path, write):
    x, y = write.balanced(60, (4,))
    x[17, 2] = np.nan
    x[30] = x[2]
    y[30] = y[2]
    x_val, y_val = write.balanced(20, (4,), seed=1)
    x_val[5], y_val[5] = x[8], y[8]
    write.npy_pairs(tmp_path / "data", train=(x, y), val=(x_val, y_val))
    return validate_dataset(tmp_path / "data")


def test_table(report):
    console = Console(record=True, width=200)
    render_table(report, console)
    text = console.export_text()
    assert "npy-pairs" in text
    for expected in ("finite", "leakage", "duplicates", "train_x.npy", "val_x.npy", "NaN or Inf in 1 sample",
                     "1 sample of val also in train", "2 error(s), 1 warning(s)", "off: range, near_duplicates"):
        assert expected in text, expected
    # Errors are listed before warnings.
    assert text.index("finite") < text.index("duplicates")


def test_narrow_terminal_lists_findings_one_per_line(report):
    console = Console(record=True, width=80)
    render_table(report, console)
    text = console.export_text()
    assert "error finite: NaN or Inf in 1 sample (train, train_x.npy, samples 17)" in text
    assert "┃ level" not in text


def test_clean_table_says_ok(tmp_path, write):
    write.npy_pairs(tmp_path, train=write.balanced(20, (2,)))
    console = Console(record=True, width=120)
    render_table(validate_dataset(tmp_path), console)
    assert "ok, 0 warning(s)" in console.export_text()


def test_json_report(report, tmp_path):
    path = tmp_path / "out" / "report.json"
    write_report(report, path)
    data = json.loads(path.read_text())
    assert data["ok"] is False and data["layout"] == "npy-pairs"
    assert data["summary"] == {"errors": 2, "warnings": 1, "notes": 0}
    assert data["checks_run"]["drift"] == "off"
    finite = next(f for f in data["findings"] if f["check"] == "finite")
    assert finite == {"check": "finite", "level": "error", "split": "train", "file": "train_x.npy",
                      "indices": [17], "count": 1, "message": "NaN or Inf in 1 sample", "other": {}}
    assert data["splits"]["train"]["count"] == 60
    assert data == report.to_json()


def test_html_report_is_self_contained_and_escaped(report, tmp_path):
    hostile = dataclasses.replace(report, root="<script>alert(1)</script>")
    path = tmp_path / "report.html"
    write_report(hostile, path)
    page = path.read_text()
    assert page.startswith("<!doctype html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page
    assert "1 sample of val also in train" in page and "train_x.npy" in page


def test_other_suffix_is_refused(report, tmp_path):
    with pytest.raises(UsageError, match=r"report.txt: a report is written as .json or .html, not .txt"):
        write_report(report, tmp_path / "report.txt")


@pytest.mark.parametrize("layout", ["npy", "npz-compressed"])
def test_memory_stays_far_below_the_data_size(tmp_path, write, layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16_384, 256), dtype=np.float32)  # 16 MiB, 16 chunks of 1 MiB
    y = np.arange(len(x)) % 10
    if layout == "npy":
        write.npy_pairs(tmp_path, train=(x, y))
    else:
        write.npz(tmp_path, compressed=True, train=(x, y))
    del x
    config = dataclasses.replace(ValidationConfig(), chunk_bytes=1 << 20)
    tracemalloc.start()
    try:
        report = validate_dataset(tmp_path, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.splits["train"]["count"] == 16_384
    assert peak < 4 * (1 << 20), f"peak Python-side allocation {peak / 2**20:.1f} MiB for 16 MiB of data"


def test_progress_is_reported(tmp_path, write):
    write.npy_pairs(tmp_path, train=write.balanced(300, (64,)), val=write.balanced(100, (64,), seed=1))
    calls = []
    config = dataclasses.replace(ValidationConfig(), chunk_bytes=64 * 4 * 50)
    validate_dataset(tmp_path, config, progress=lambda stage, done, total: calls.append((stage, done, total)))
    reading = [c for c in calls if c[0] == "reading train"]
    assert len(reading) == 6 and reading[-1] == ("reading train", 300, 300)
    assert [c[1] for c in reading] == sorted(c[1] for c in reading)
    assert ("reading val", 100, 100) in calls


def test_every_finding_is_json_safe(tmp_path, write):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (30, 4, 4, 3))
    x = np.kron(small, np.ones((1, 4, 4, 1))).astype(np.float32)
    y = np.arange(30) % 3
    x[4, 0, 0, 0], x[7], y[7] = np.nan, x[8], y[8]
    y[9] = 7
    x[12], y[12] = x[11], (y[11] + 1) % 3
    x_val, y_val = x[:10].copy() + 0.5, y[:10].copy()
    x_val[:, :, :, 0] += 40
    write.npy_pairs(tmp_path / "v1", train=(x[::-1].copy(), y), val=(x_val, y_val))
    previous = validate_dataset(tmp_path / "v1").splits
    write.npy_pairs(tmp_path / "v2", train=(x, y), val=(x_val, y_val))
    config = ValidationConfig.from_mapping({"range": {"min": 0, "max": 255}, "near_duplicates": "warn",
                                            "labels": {"max_imbalance": 1.5}})
    report = validate_dataset(tmp_path / "v2", config, previous_splits=previous)
    assert {f.check for f in report.findings} >= {"finite", "labels", "duplicates", "conflicts", "near_duplicates",
                                                   "range"}
    text = json.dumps(report.to_json(), allow_nan=False)
    assert json.loads(text)["summary"]["errors"] == report.count("error")


def test_a_damaged_previous_manifest_is_ignored(tmp_path, write):
    write.npy_pairs(tmp_path, train=write.balanced(20, (2,)))
    assert validate_dataset(tmp_path, previous_splits=["not", "a", "dict"]).checks_run["drift"] == "off"
    report = validate_dataset(tmp_path, previous_splits={"train": "garbage"})
    assert report.ok and [f for f in report.findings if f.check == "drift"] == []
