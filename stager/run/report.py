"""The line protocol from a training process to the controller, and ``MetricsReport``, which speaks it.

A report line is ``@stager `` followed by one JSON object on one line, on stdout::

    @stager {"event":"metrics","step":50,"epoch":0,"metrics":{"train_loss":0.31}}

Every other line of the job's output is the trainer's own. Non-finite numbers
are sent as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (JSON has
no such numbers; ``float()`` reads these strings back), so every line stays
valid JSON.

Records ``MetricsReport`` emits (rank zero only; ``epoch`` is 0-based and
``step`` is the trainer's ``global_step``, optimizer steps):

- ``{"event": "start", "max_epochs", "max_steps", "steps_per_epoch", "global_step"}`` at fit start
  (``steps_per_epoch`` only when the training loader has a length; ``global_step`` is
  above 0 when resuming);
- ``{"event": "metrics", "step", "epoch", "metrics": {name: float}}`` every
  ``log_every_n_steps`` optimizer steps, and after a validation in the middle of an epoch;
- ``{"event": "epoch", "epoch", "step", "metrics": {...}}`` once per training epoch, with the
  epoch's aggregated training metrics and its validation metrics;
- ``{"event": "end", "step", "epoch"}`` when fit finishes; here ``epoch`` is the number of
  epochs completed (the trainer's ``current_epoch`` after fit, as in Lightning).

Metrics are the trainer's ``callback_metrics``: the latest value of everything
logged, including the last validation's.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from typing import Any

from stager.train.callbacks.base import Callback
from stager.train.results import to_floats

__all__ = ["REPORT_PREFIX", "MetricsReport", "emit", "encode", "parse_report"]

REPORT_PREFIX = "@stager "

_lock = threading.Lock()  # the push callback emits from its upload thread


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def encode(record: dict) -> str:
    """``record`` as one report line (without the newline)."""
    return REPORT_PREFIX + json.dumps(_json_safe(record), separators=(",", ":"), allow_nan=False, default=str)


def emit(record: dict) -> None:
    """Print ``record`` as one report line on stdout, flushed.

    Best effort: a closed or broken stdout is ignored, since a report must never
    stop training. With a progress bar drawn on the same terminal, the bar is
    cleared for the line and redrawn after it.
    """
    line = encode(record)
    with _lock:
        try:
            with _around_progress_bars():
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
        except (OSError, ValueError):
            pass


def _around_progress_bars():
    """tqdm's "clear the bars, write, redraw" when stdout is a terminal a bar may share."""
    import contextlib

    tqdm_module = sys.modules.get("tqdm")  # only if the progress bar already loaded it
    try:
        shared = tqdm_module is not None and sys.stdout.isatty()
    except (AttributeError, ValueError):
        shared = False
    if not shared:
        return contextlib.nullcontext()
    return tqdm_module.tqdm.external_write_mode(file=sys.stdout)


def parse_report(line: str) -> dict | None:
    """The record on a report line; None for any other line (malformed JSON after the prefix too)."""
    if not isinstance(line, str):
        return None
    text = line.rstrip("\r\n")
    if not text.startswith(REPORT_PREFIX):
        return None
    try:
        record = json.loads(text[len(REPORT_PREFIX):])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class MetricsReport(Callback):
    """Reports a fit's progress and metrics as report lines (see the module docstring)."""

    def __init__(self) -> None:
        self._every = 0  # log_every_n_steps while fitting on rank zero; 0: nothing per step
        self._last_step_reported = -1
        self._pending_epoch: tuple[int, int] | None = None  # (epoch, step) awaiting its epoch metrics

    @staticmethod
    def _metrics(trainer) -> dict[str, float]:
        return to_floats(trainer.callback_metrics)

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            self._every = 0
            return
        self._every = max(0, trainer.log_every_n_steps)
        self._last_step_reported = trainer.global_step
        self._pending_epoch = None
        record: dict[str, Any] = {"event": "start", "max_epochs": trainer.max_epochs, "max_steps": trainer.max_steps}
        steps = _steps_per_epoch(trainer)
        if steps is not None:
            record["steps_per_epoch"] = steps
        record["global_step"] = trainer.global_step
        emit(record)

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        every, step = self._every, trainer.global_step
        # the trainer moves step metrics into callback_metrics at these same steps
        if every and step % every == 0 and step != self._last_step_reported:
            self._last_step_reported = step
            emit({"event": "metrics", "step": step, "epoch": trainer.current_epoch, "metrics": self._metrics(trainer)})

    def _idle_in_train_batches(self, hook: str) -> bool:
        return (hook == "on_train_batch_end" and not self._every
                and type(self).on_train_batch_end is MetricsReport.on_train_batch_end)

    def on_validation_end(self, trainer, pl_module) -> None:
        # at an epoch's end the "epoch" record carries the validation metrics
        if (trainer.sanity_checking or trainer.state.fn != "fit" or not trainer.is_global_zero
                or getattr(trainer, "_at_epoch_end", False)):
            return
        emit({"event": "metrics", "step": trainer.global_step, "epoch": trainer.current_epoch,
              "metrics": self._metrics(trainer)})

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # The epoch's aggregated metrics reach callback_metrics after this hook (it runs
        # before the module's), so the record goes out at the next hook: the next epoch's
        # start or the end of training.
        if trainer.is_global_zero:
            self._pending_epoch = (trainer.current_epoch, trainer.global_step)

    def _flush_epoch(self, trainer) -> None:
        if self._pending_epoch is None:
            return
        epoch, step = self._pending_epoch
        self._pending_epoch = None
        emit({"event": "epoch", "epoch": epoch, "step": step, "metrics": self._metrics(trainer)})

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._flush_epoch(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._flush_epoch(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        try:
            self._flush_epoch(trainer)
        except Exception:  # noqa: BLE001 - the device may be what failed; the original error matters
            pass

    def on_fit_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        self._flush_epoch(trainer)
        emit({"event": "end", "step": trainer.global_step, "epoch": trainer.current_epoch})


def _steps_per_epoch(trainer) -> int | None:
    """Optimizer steps in one training epoch; None when the loader has no length."""
    from stager.train.data_loading import batch_limit

    loader = trainer.train_dataloader
    if loader is None:
        return None
    try:
        batches = batch_limit(loader, trainer.limit_train_batches, "train")
    except Exception:  # noqa: BLE001 - the trainer reports a bad limit itself; a report must not fail first
        return None
    if not isinstance(batches, int) or batches <= 0:
        return None
    return math.ceil(batches / trainer.accumulate_grad_batches)
