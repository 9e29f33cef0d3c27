"""The progress bar: steps, it/s and the ``prog_bar`` metrics, on a terminal only.

Metrics are read back from the device only when the bar redraws (at most every
``refresh_seconds``), so the bar adds no per-step synchronisation.  When stderr
is not a terminal the bar is off and the trainer prints one line per epoch.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from stager.train.callbacks.base import Callback


def _format(metrics: dict[str, float]) -> dict[str, str]:
    return {k: f"{v:.4g}" for k, v in metrics.items()}


class TQDMProgressBar(Callback):
    def __init__(self, refresh_rate: int = 1, refresh_seconds: float = 0.5, leave: bool = False, process_position: int = 0) -> None:
        self.refresh_rate = max(1, refresh_rate)
        self.refresh_seconds = refresh_seconds
        self.leave = leave
        self.process_position = process_position
        self._bar = None
        self._enabled = True
        self._next_postfix = 0.0
        self._epoch_started = 0.0

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:
        self._enabled = False

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not trainer.is_global_zero or not sys.stderr.isatty():
            self._enabled = False
            return
        try:
            import tqdm  # noqa: F401
        except ImportError:
            self._enabled = False

    def _open(self, total: Any, desc: str) -> None:
        from tqdm import tqdm

        self._close()
        self._bar = tqdm(
            total=total if isinstance(total, int) else None,
            desc=desc,
            leave=self.leave,
            dynamic_ncols=True,
            file=sys.stderr,
            position=self.process_position,
            smoothing=0.1,
        )
        self._next_postfix = 0.0

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _advance(self, trainer, batch_idx: int) -> None:
        if self._bar is None or (batch_idx + 1) % self.refresh_rate:
            return
        self._bar.update(self.refresh_rate)
        now = time.monotonic()
        if now >= self._next_postfix:
            self._next_postfix = now + self.refresh_seconds
            self._bar.set_postfix(_format(trainer.progress_bar_metrics), refresh=False)

    # -- training ------------------------------------------------------------
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_started = time.monotonic()
        if self._enabled:
            max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
            self._open(trainer.num_training_batches, f"Epoch {trainer.current_epoch + 1}/{max_epochs}")

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._advance(trainer, batch_idx)

    def _idle_in_train_batches(self, hook: str) -> bool:
        # Off (not a terminal): no bar is open, and none opens before the next epoch.
        return (hook == "on_train_batch_end" and not self._enabled and self._bar is None
                and type(self).on_train_batch_end is TQDMProgressBar.on_train_batch_end
                and type(self)._advance is TQDMProgressBar._advance)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            self._bar.set_postfix(_format(trainer.progress_bar_metrics), refresh=True)
            self._close()
        elif trainer.is_global_zero and not trainer.sanity_checking and trainer._print_epoch_lines:
            metrics = " ".join(f"{k}={v}" for k, v in _format(trainer.progress_bar_metrics).items())
            took = time.monotonic() - self._epoch_started
            print(f"epoch {trainer.current_epoch + 1} done in {took:.1f}s, step {trainer.global_step} {metrics}".rstrip(), file=sys.stderr, flush=True)

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()

    # -- evaluation ----------------------------------------------------------
    def _eval_start(self, trainer, desc: str) -> None:
        if self._enabled and self._bar is None:
            self._open(None, desc)
            self._eval_bar = True
        else:
            self._eval_bar = False

    def _eval_end(self) -> None:
        if getattr(self, "_eval_bar", False):
            self._close()
            self._eval_bar = False

    def on_validation_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "Sanity check" if trainer.sanity_checking else "Validation")

    def on_validation_end(self, trainer, pl_module) -> None:
        self._eval_end()

    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "Test")

    def on_test_end(self, trainer, pl_module) -> None:
        self._eval_end()

    def on_predict_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "Predict")

    def on_predict_end(self, trainer, pl_module) -> None:
        self._eval_end()

    def _eval_advance(self, batch_idx: int) -> None:
        if getattr(self, "_eval_bar", False) and self._bar is not None:
            self._bar.update(1)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_advance(batch_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_advance(batch_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_advance(batch_idx)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._close()


ProgressBar = TQDMProgressBar
