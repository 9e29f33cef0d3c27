"""CSV, TensorBoard and JSON-lines loggers: folder layout, file contents, readers."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stager.errors import UsageError
from stager.train.loggers import CSVLogger, JSONLinesLogger, Logger, TensorBoardLogger, follow, read_jsonl
from stager.train.loggers.jsonl import parse_line
from stager.train.module import Module


def read_csv(path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames), list(reader)


# -- version folders (shared by every logger) -------------------------------------


def test_versions_increment_and_folder_is_created_lazily(tmp_path):
    first = CSVLogger(tmp_path)
    assert not (tmp_path / "lightning_logs").exists()  # building a logger claims nothing
    assert first.version == 0
    first.log_hyperparams({"a": 1})
    second = CSVLogger(tmp_path)
    assert second.version == 1
    assert second.root_dir == str(tmp_path / "lightning_logs")
    assert second.log_dir == str(tmp_path / "lightning_logs" / "version_1")
    assert second.save_dir == str(tmp_path)
    assert second.name == "lightning_logs"
    assert isinstance(second, Logger)


def test_version_skips_non_numeric_folders_and_counts_from_highest(tmp_path):
    root = tmp_path / "exp"
    for folder in ("version_0", "version_7", "version_best", "other"):
        (root / folder).mkdir(parents=True)
    (root / "version_9").write_text("a file, not a version folder")
    assert CSVLogger(tmp_path, name="exp").version == 8


def test_explicit_versions(tmp_path):
    assert CSVLogger(tmp_path, version=5).log_dir == str(tmp_path / "lightning_logs" / "version_5")
    assert CSVLogger(tmp_path, version="run-a").log_dir == str(tmp_path / "lightning_logs" / "run-a")
    assert CSVLogger(tmp_path, name="").log_dir == str(tmp_path / "version_0")


def test_loggers_of_one_experiment_share_the_numbering(tmp_path):
    pytest.importorskip("tensorboard")
    csv_logger = CSVLogger(tmp_path)
    csv_logger.log_metrics({"loss": 1.0}, step=0)
    csv_logger.save()
    tb_logger = TensorBoardLogger(tmp_path)
    jsonl_logger = JSONLinesLogger(tmp_path)
    assert (tb_logger.version, jsonl_logger.version) == (1, 1)


# -- CSV ----------------------------------------------------------------------------


def test_csv_layout_and_rows(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"loss": 0.5, "epoch": 0}, step=0)
    logger.log_metrics({"loss": 0.25, "epoch": 0}, step=1)
    logger.finalize("success")
    header, rows = read_csv(tmp_path / "lightning_logs" / "version_0" / "metrics.csv")
    assert header == ["step", "epoch", "loss"]
    assert [(r["step"], r["loss"]) for r in rows] == [("0", "0.5"), ("1", "0.25")]
    assert logger.metrics_file_path == str(tmp_path / "lightning_logs" / "version_0" / "metrics.csv")


def test_csv_buffers_until_every_n_steps(tmp_path):
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=3)
    path = Path(logger.log_dir) / "metrics.csv"
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.log_metrics({"loss": 1.0}, step=1)
    assert not path.exists()
    logger.log_metrics({"loss": 1.0}, step=2)
    assert len(read_csv(path)[1]) == 3
    logger.log_metrics({"loss": 1.0}, step=3)
    assert len(read_csv(path)[1]) == 3
    logger.save()
    assert len(read_csv(path)[1]) == 4


def test_csv_rewrites_file_when_a_new_key_appears(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"train_loss": 1.0}, step=0)
    logger.save()
    logger.log_metrics({"train_loss": 0.5}, step=1)
    logger.log_metrics({"val_loss": 0.7, "epoch": 0}, step=1)
    logger.save()
    header, rows = read_csv(logger.metrics_file_path)
    assert header == ["step", "epoch", "train_loss", "val_loss"]
    assert rows[0] == {"step": "0", "epoch": "", "train_loss": "1.0", "val_loss": ""}
    assert rows[2] == {"step": "1", "epoch": "0", "train_loss": "", "val_loss": "0.7"}
    assert len(rows) == 3


def test_csv_flushes_write_the_same_bytes_as_one_save(tmp_path):
    # Flushes after the first append to the open file (no new column); the bytes must be
    # those of a single csv.DictWriter pass, quoting and non-finite values included.
    rows = [{"loss": 1.0 / (step + 1), "epoch": 0.0, "name,with comma": 'a "quote"' if step % 2 else ""}
            for step in range(7)]
    rows[3]["loss"] = float("nan")
    flushed = CSVLogger(tmp_path / "flushed", flush_logs_every_n_steps=2)
    whole = CSVLogger(tmp_path / "whole", flush_logs_every_n_steps=1000)
    for step, row in enumerate(rows):
        flushed.log_metrics(row, step)
        whole.log_metrics(row, step)
    flushed.finalize("success")
    whole.finalize("success")
    assert Path(flushed.metrics_file_path).read_bytes() == Path(whole.metrics_file_path).read_bytes()


def test_csv_starts_the_file_again_when_it_was_removed_mid_run(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.save()
    Path(logger.metrics_file_path).unlink()
    logger.log_metrics({"loss": 0.5}, step=1)
    logger.save()
    assert read_csv(logger.metrics_file_path) == (["step", "loss"], [{"step": "1", "loss": "0.5"}])
    Path(logger.log_dir, "metrics.csv").unlink()
    Path(logger.log_dir).rmdir()  # the folder too
    logger.log_metrics({"loss": 0.25}, step=2)
    logger.finalize("success")
    assert read_csv(logger.metrics_file_path) == (["step", "loss"], [{"step": "2", "loss": "0.25"}])


def test_csv_prefix_non_finite_and_numpy_values(tmp_path):
    logger = CSVLogger(tmp_path, prefix="fit")
    logger.log_metrics({"loss": float("nan"), "acc": np.float32(0.5), "grad": float("inf")}, step=0)
    logger.save()
    header, rows = read_csv(logger.metrics_file_path)
    assert header == ["step", "fit-loss", "fit-acc", "fit-grad"]
    assert math.isnan(float(rows[0]["fit-loss"])) and float(rows[0]["fit-grad"]) == math.inf
    assert float(rows[0]["fit-acc"]) == 0.5


def test_csv_extends_an_existing_file_in_a_pinned_version(tmp_path):
    first = CSVLogger(tmp_path, version=0)
    first.log_metrics({"loss": 1.0}, step=0)
    first.finalize("interrupted")
    resumed = CSVLogger(tmp_path, version=0)
    resumed.log_metrics({"loss": 0.5, "lr": 0.1}, step=1)
    resumed.finalize("success")
    header, rows = read_csv(resumed.metrics_file_path)
    assert header == ["step", "loss", "lr"]
    assert [r["loss"] for r in rows] == ["1.0", "0.5"]


def test_hparams_yaml_holds_plain_values(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_hyperparams(
        {
            "lr": 1e-3,
            "layers": (64, 32),
            "optimizer": {"name": "adam", "betas": [0.9, 0.99]},
            "data_dir": Path("/data/mnist"),
            "dtype": torch.float16,
            "scale": torch.tensor(2.5),
            "seed": np.int64(7),
            "activation": None,
        }
    )
    logger.log_hyperparams({"batch_size": 32})
    text = (Path(logger.log_dir) / "hparams.yaml").read_text()
    assert yaml.safe_load(text) == {
        "lr": 1e-3,
        "layers": [64, 32],
        "optimizer": {"name": "adam", "betas": [0.9, 0.99]},
        "data_dir": "/data/mnist",
        "dtype": "torch.float16",
        "scale": 2.5,
        "seed": 7,
        "activation": None,
        "batch_size": 32,
    }


# -- TensorBoard --------------------------------------------------------------------


def _events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return accumulator


def test_tensorboard_event_file_holds_the_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path)
    for step in range(3):
        logger.log_metrics({"train_loss": 1.0 / (step + 1), "epoch": 0.0}, step=step)
    logger.log_metrics({"val_acc": 0.75}, step=2)
    logger.finalize("success")

    log_dir = tmp_path / "lightning_logs" / "version_0"
    assert list(log_dir.glob("events.out.tfevents.*"))
    events = _events(log_dir)
    loss = events.Scalars("train_loss")
    assert [e.step for e in loss] == [0, 1, 2]
    assert [e.value for e in loss] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [(e.step, e.value) for e in events.Scalars("val_acc")] == [(2, 0.75)]


def test_tensorboard_hparams_yaml_text_and_hp_metric(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path, default_hp_metric=True)
    logger.log_hyperparams({"lr": 0.01, "model": {"width": 8}, "device": torch.device("cpu")})
    logger.finalize("success")
    assert yaml.safe_load((Path(logger.log_dir) / "hparams.yaml").read_text()) == {
        "lr": 0.01,
        "model": {"width": 8},
        "device": "cpu",
    }
    events = _events(logger.log_dir)
    assert [(e.step, e.value) for e in events.Scalars("hp_metric")] == [(0, -1.0)]
    assert "hparams/text_summary" in events.Tags()["tensors"]


def test_tensorboard_reopens_after_finalize(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    logger.log_metrics({"loss": 0.5}, step=1)  # e.g. trainer.test after trainer.fit
    logger.finalize("success")
    assert [e.step for e in _events(logger.log_dir).Scalars("loss")] == [0, 1]


class TinyNet(Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.example_input_array = torch.zeros(3, 4)

    def forward(self, x):
        return self.layer(x)


def test_tensorboard_log_graph_of_a_module_without_trainer(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    logger.log_graph(TinyNet())
    logger.finalize("success")
    assert _events(logger.log_dir).Tags()["graph"]


def test_tensorboard_log_graph_is_off_by_default_and_warns_without_input(tmp_path):
    pytest.importorskip("tensorboard")
    TensorBoardLogger(tmp_path).log_graph(TinyNet())  # log_graph=False: nothing, no error
    net = TinyNet()
    net.example_input_array = None
    with pytest.warns(UserWarning, match="example_input_array"):
        TensorBoardLogger(tmp_path, log_graph=True).log_graph(net)


def test_tensorboard_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    with pytest.raises(UsageError, match=r"stager\[tensorboard\]"):
        TensorBoardLogger(tmp_path)


# -- JSON lines ---------------------------------------------------------------------


def _strict_json(line: str):
    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(line, parse_constant=reject)


def test_jsonl_records_are_valid_json_with_non_finite_as_strings(tmp_path):
    logger = JSONLinesLogger(tmp_path)
    logger.log_hyperparams({"lr": 0.1, "dtype": torch.float32})
    logger.log_metrics({"loss": float("nan"), "hi": float("inf"), "lo": float("-inf"), "acc": 0.5}, step=10)
    logger.after_save_checkpoint("/ckpt/epoch=0-step=10.ckpt")
    logger.finalize("success")

    path = tmp_path / "lightning_logs" / "version_0" / "metrics.jsonl"
    assert logger.path == str(path)
    raw = [_strict_json(line) for line in path.read_text().splitlines()]
    assert [r["type"] for r in raw] == ["hparams", "metrics", "checkpoint", "status"]
    assert all(isinstance(r["time"], float) for r in raw)
    assert raw[0]["hparams"] == {"lr": 0.1, "dtype": "torch.float32"}
    assert raw[1]["step"] == 10
    assert raw[1]["metrics"] == {"loss": "nan", "hi": "inf", "lo": "-inf", "acc": 0.5}
    assert raw[2]["path"] == "/ckpt/epoch=0-step=10.ckpt"
    assert raw[3]["status"] == "success"
    assert yaml.safe_load((path.parent / "hparams.yaml").read_text()) == {"lr": 0.1, "dtype": "torch.float32"}

    decoded = list(read_jsonl(path))[1]["metrics"]  # the reader gives floats back
    assert math.isnan(decoded["loss"]) and decoded["hi"] == math.inf and decoded["lo"] == -math.inf


def test_jsonl_each_record_is_on_disk_before_finalize(tmp_path):
    logger = JSONLinesLogger(tmp_path, filename="progress.jsonl")
    logger.log_metrics({"loss": 1.0}, step=1)
    records = list(read_jsonl(Path(logger.log_dir) / "progress.jsonl"))
    assert records[0]["metrics"] == {"loss": 1.0}


def test_read_jsonl_tolerates_a_half_written_last_line(tmp_path):
    logger = JSONLinesLogger(tmp_path)
    logger.log_metrics({"loss": 1.0}, step=1)
    logger.log_metrics({"loss": 0.5}, step=2)
    with open(logger.path, "a") as file:
        file.write('{"type":"metrics","time":1.0,"step":3,"metr')
    assert [r["step"] for r in read_jsonl(logger.path)] == [1, 2]
    assert parse_line('{"type":"metr') is None and parse_line("") is None and parse_line("[1]") is None


def test_writer_starts_a_fresh_line_after_a_crash_fragment(tmp_path):
    path = tmp_path / "lightning_logs" / "version_0" / "metrics.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"type":"metrics","step":1,"metrics":{"loss":1.0}}\n{"type":"metr')
    logger = JSONLinesLogger(tmp_path, version=0)
    logger.log_metrics({"loss": 0.5}, step=2)
    logger.finalize("failed")
    assert [r["type"] for r in read_jsonl(path)] == ["metrics", "metrics", "status"]


def test_follow_waits_for_the_end_of_a_partial_line(tmp_path):
    path = tmp_path / "stream.jsonl"
    path.write_text('{"type":"metrics","step":1,"metrics":{"loss":1.0}}\n{"type":"metrics","st')
    records = follow(path, poll_interval=0.01, idle_timeout=5)
    assert next(records)["step"] == 1
    # The generator has read the partial line; it must come out whole once finished.
    with open(path, "a") as file:
        file.write('ep":2,"metrics":{"loss":"nan"}}\n{"type":"status","status":"success"}\n{"type":"after"}\n')
    second = next(records)
    assert second["step"] == 2 and math.isnan(second["metrics"]["loss"])
    assert next(records)["status"] == "success"
    assert list(records) == []  # stops at the status record


def test_follow_waits_for_the_file_and_gives_up_when_idle(tmp_path):
    assert list(follow(tmp_path / "never.jsonl", poll_interval=0.01, idle_timeout=0.05)) == []


def test_csv_rows_reach_disk_mid_epoch_when_logged_at_multiples_of_the_flush_interval(tmp_path):
    from stager.train.loggers import CSVLogger

    logger = CSVLogger(str(tmp_path), flush_logs_every_n_steps=100)
    for step in (50, 100, 150, 200):
        logger.log_metrics({"loss": 1.0}, step)
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        assert [line.split(",")[0] for line in handle.read().splitlines()[1:]] == ["50", "100", "150", "200"]
