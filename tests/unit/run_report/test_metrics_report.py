"""MetricsReport's records from a real (tiny) fit, and the report line protocol."""

from __future__ import annotations

import io
import json
import math
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stager.run.report import REPORT_PREFIX, MetricsReport, emit, encode, parse_report
from stager.train import Module, Trainer


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, x.sum(dim=1, keepdim=True))


class Tiny(Module):
    def __init__(self, nan_after: int | None = None) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)
        self.nan_after = nan_after

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        if self.nan_after is not None and self.global_step >= self.nan_after:
            self.log("odd", float("nan"))  # a metric may be NaN while the loss is fine
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _fit(tmp_path, model: Module, **kwargs) -> Trainer:
    args = dict(accelerator="cpu", default_root_dir=str(tmp_path), logger=False, enable_checkpointing=False,
                enable_progress_bar=False, max_epochs=3, log_every_n_steps=2, callbacks=[MetricsReport()])
    args.update(kwargs)
    trainer = Trainer(**args)
    trainer.fit(model, DataLoader(_data(40, 0), batch_size=8), DataLoader(_data(16, 1), batch_size=8))
    return trainer


def _records(text: str) -> list[dict]:
    return [r for r in map(parse_report, text.splitlines()) if r is not None]


def test_fit_reports_start_metrics_epochs_end(tmp_path, capsys):
    trainer = _fit(tmp_path, Tiny())
    out = capsys.readouterr().out
    for line in out.splitlines():  # every report line is one valid JSON object
        if line.startswith(REPORT_PREFIX):
            json.loads(line[len(REPORT_PREFIX):])
    records = _records(out)
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "end"
    assert records[0] == {"event": "start", "max_epochs": 3, "max_steps": -1, "steps_per_epoch": 5,
                          "global_step": 0}

    metrics = [r for r in records if r["event"] == "metrics"]
    steps = [r["step"] for r in metrics]
    assert steps == list(range(2, 16, 2))  # every log_every_n_steps=2 optimizer steps, 5 steps per epoch
    assert all(isinstance(r["metrics"]["train_loss"], float) for r in metrics)
    assert [r["epoch"] for r in metrics] == [0, 0, 1, 1, 1, 2, 2]

    epochs = [r for r in records if r["event"] == "epoch"]
    assert [(r["epoch"], r["step"]) for r in epochs] == [(0, 5), (1, 10), (2, 15)]
    for record in epochs:  # the epoch's aggregate and its validation
        assert {"train_loss_epoch", "val_loss"} <= set(record["metrics"])
    assert epochs[-1]["metrics"]["val_loss"] == trainer.callback_metrics["val_loss"].item()
    # each epoch's record comes after that epoch's metrics and before the next epoch's
    order = [(r["event"], r.get("step")) for r in records if r["event"] in ("metrics", "epoch")]
    assert [s for _, s in order] == sorted(s for _, s in order)
    assert records[-1] == {"event": "end", "step": 15, "epoch": 3}


def test_max_steps_and_no_validation(tmp_path, capsys):
    _fit(tmp_path, Tiny(), max_epochs=None, max_steps=7, log_every_n_steps=3, limit_val_batches=0)
    records = _records(capsys.readouterr().out)
    assert records[0]["max_steps"] == 7 and records[0]["max_epochs"] is None
    assert [r["step"] for r in records if r["event"] == "metrics"] == [3, 6]
    assert [(r["epoch"], r["step"]) for r in records if r["event"] == "epoch"] == [(0, 5), (1, 7)]
    assert records[-1]["event"] == "end" and records[-1]["step"] == 7


def test_nan_metric_stays_valid_json(tmp_path, capsys):
    _fit(tmp_path, Tiny(nan_after=3), max_epochs=1)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(REPORT_PREFIX)]
    for line in lines:
        json.loads(line[len(REPORT_PREFIX):], parse_constant=lambda c: pytest_fail(f"bare {c} in {line}"))
    records = _records(out)
    odd = [r["metrics"]["odd"] for r in records if r["event"] == "metrics" and "odd" in r["metrics"]]
    assert odd and all(v == "NaN" and math.isnan(float(v)) for v in odd)


def pytest_fail(message: str):
    raise AssertionError(message)


def test_encode_and_parse_round_trip():
    record = {"event": "metrics", "step": 3, "metrics": {"a": 1.5, "b": float("inf"), "c": float("-inf"),
                                                         "d": float("nan")}, "note": "two\nlines"}
    line = encode(record)
    assert line.startswith(REPORT_PREFIX) and "\n" not in line
    parsed = parse_report(line + "\n")
    assert parsed["metrics"] == {"a": 1.5, "b": "Infinity", "c": "-Infinity", "d": "NaN"}
    assert parsed["note"] == "two\nlines"


def test_parse_report_ignores_everything_else():
    for line in ["", "epoch 1 done in 0.3s", "@stager", "@stager ", "@stager {not json", "@stager [1, 2]",
                 "@stager 42", " @stager {}", "@stagerx {}", '@stager {"a": 1} trailing', None, b"@stager {}"]:
        assert parse_report(line) is None, line
    assert parse_report('@stager {"event": "end"}') == {"event": "end"}


def test_emit_prints_one_flushed_line(capsys):
    emit({"event": "x", "value": float("nan")})
    assert capsys.readouterr().out == '@stager {"event":"x","value":"NaN"}\n'


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_emit_clears_a_progress_bar_on_the_same_terminal(monkeypatch):
    from tqdm import tqdm

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = tqdm(total=10, file=sys.stderr, mininterval=0)
    try:
        bar.update(3)
        emit({"event": "metrics", "step": 3})
        before, line_and_after = terminal.getvalue().split(REPORT_PREFIX, 1)
    finally:
        bar.close()
    assert before.endswith("\r")  # the bar was wiped, so the line starts at the left margin, whole
    line, after = line_and_after.split("\n", 1)
    assert parse_report(REPORT_PREFIX + line) == {"event": "metrics", "step": 3}
    assert "3/10" in after  # and redrawn after it
