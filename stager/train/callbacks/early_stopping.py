"""``EarlyStopping``: stop training when a monitored metric stops improving.

Checked after each validation run (or at the end of each training epoch with
``check_on_train_epoch_end=True``).  Training stops at the end of the current
batch once ``trainer.should_stop`` is set.
"""

from __future__ import annotations

import math
from typing import Any

from stager.errors import UsageError
from stager.train.callbacks.base import Callback


class EarlyStopping(Callback):
    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
    ) -> None:
        if mode not in ("min", "max"):
            raise UsageError(f'EarlyStopping mode {mode!r}; use "min" or "max"')
        self.monitor = monitor
        self.min_delta = abs(min_delta) if mode == "max" else -abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.check_on_train_epoch_end = check_on_train_epoch_end
        self.wait_count = 0
        self.stopped_epoch = 0
        self.best_score = math.inf if mode == "min" else -math.inf
        self.stopping_reason: str | None = None

    @property
    def state_key(self) -> str:
        return f"EarlyStopping{{'monitor': {self.monitor!r}, 'mode': {self.mode!r}}}"

    def _improved(self, current: float, reference: float) -> bool:
        if self.mode == "min":
            return current < reference + self.min_delta
        return current > reference + self.min_delta

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.check_on_train_epoch_end:
            return
        self._check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.check_on_train_epoch_end:
            self._check(trainer)

    def _check(self, trainer) -> None:
        metrics = trainer._callback_metrics_as_floats()
        if self.monitor not in metrics:
            if self.strict:
                raise UsageError(
                    f"EarlyStopping(monitor={self.monitor!r}) found no such metric; logged: "
                    f"{', '.join(sorted(metrics)) or 'none'} (or pass strict=False)"
                )
            return
        current = metrics[self.monitor]
        stop, reason = self._evaluate(current)
        if stop:
            trainer.should_stop = True
            self.stopped_epoch = trainer.current_epoch
            self.stopping_reason = reason
            if self.verbose and trainer.is_global_zero:
                print(f"early stopping at epoch {trainer.current_epoch}: {reason}")

    def _evaluate(self, current: float) -> tuple[bool, str | None]:
        if self.check_finite and not math.isfinite(current):
            return True, f"{self.monitor} = {current} is not finite"
        if self.stopping_threshold is not None and self._improved(current, self.stopping_threshold - self.min_delta):
            return True, f"{self.monitor} = {current:.6g} reached the stopping threshold {self.stopping_threshold}"
        if self.divergence_threshold is not None and not self._improved(current, self.divergence_threshold - self.min_delta):
            return True, f"{self.monitor} = {current:.6g} crossed the divergence threshold {self.divergence_threshold}"
        if self._improved(current, self.best_score):
            self.best_score = current
            self.wait_count = 0
            return False, None
        self.wait_count += 1
        if self.wait_count >= self.patience:
            return True, f"{self.monitor} did not improve in the last {self.wait_count} checks; best {self.best_score:.6g}"
        return False, None

    def state_dict(self) -> dict[str, Any]:
        return {"wait_count": self.wait_count, "stopped_epoch": self.stopped_epoch, "best_score": self.best_score, "patience": self.patience}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait_count = state.get("wait_count", 0)
        self.stopped_epoch = state.get("stopped_epoch", 0)
        self.best_score = state.get("best_score", self.best_score)
