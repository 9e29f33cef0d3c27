"""What ``self.log`` collects, and when it is turned into numbers.

Values stay tensors on their device: per-epoch aggregation is a running
weighted sum computed on the device, so logging every step costs no
host-device synchronisation.  Numbers reach the host only in ``to_floats``,
which the trainer calls when a logger or the progress bar shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from stager.errors import UsageError

_REDUCE = ("mean", "sum", "max", "min")
_Tensor = torch.Tensor
_FLOAT32 = torch.float32


@dataclass
class _Metric:
    on_step: bool
    on_epoch: bool
    prog_bar: bool
    logger: bool
    reduce_fx: str
    sync_dist: bool
    step_value: torch.Tensor | None = None
    total: torch.Tensor | None = None  # weighted sum (mean, sum) or running max/min
    weight: int = 0  # sum of batch sizes seen this epoch
    undetached: bool = False  # step_value is the logged tensor itself (see ResultCollection.log)

    def latest(self) -> torch.Tensor | None:
        """``step_value``, detached (what ``_as_tensor`` makes of it)."""
        if self.undetached:
            self.step_value = self.step_value.detach()
            self.undetached = False
        return self.step_value


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise UsageError(f"self.log({name!r}) got a tensor of shape {tuple(value.shape)}; log a scalar")
        value = value.detach()
        if value.ndim:
            value = value.reshape(())
        return value if value.dtype == torch.float32 else value.float()
    if isinstance(value, (int, float, bool)):
        return torch.tensor(float(value))
    raise UsageError(f"self.log({name!r}) got a {type(value).__name__}; log a number or a scalar tensor")


class ResultCollection:
    """The metrics logged during one stage ("train", "validate", "test", "predict")."""

    def __init__(self, training: bool, reducer=None, batch_size: Callable[[], int] | None = None) -> None:
        self.training = training
        # reducer(tensor, op) -> tensor: a cross-process reduction, or None when single-process
        self.reducer = reducer
        # batch_size() -> int: the current batch's size, for a value logged without one
        self.batch_size = batch_size
        self.metrics: dict[str, _Metric] = {}
        self._undetached: list[_Metric] = []  # logged this step and not yet detached

    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: bool = True,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str = "mean",
        sync_dist: bool = False,
        batch_size: int | None = None,
    ) -> None:
        """Record one value (this runs for every ``self.log`` call: kept short)."""
        if reduce_fx not in _REDUCE:
            raise UsageError(f"self.log({name!r}, reduce_fx={reduce_fx!r}); use one of {', '.join(_REDUCE)}")
        if on_step is None:
            on_step = self.training
        if on_epoch is None:
            on_epoch = not self.training
        # The usual value in training, a loss: kept as it is until settle() at the end of the
        # step, where only a tensor other than the loss is detached (creating and freeing a
        # detached tensor every step costs more than all the rest of self.log).
        undetached = (self.training and not on_epoch and type(value) is _Tensor and value.ndim == 0
                      and value.dtype is _FLOAT32)
        tensor = value if undetached else _as_tensor(name, value)
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = _Metric(on_step, on_epoch, prog_bar, logger, reduce_fx, sync_dist)
        metric.step_value, metric.undetached = tensor, undetached
        if undetached:
            self._undetached.append(metric)
        if on_epoch:
            if batch_size is None:
                batch_size = self.batch_size() if self.batch_size is not None else 1
            if reduce_fx in ("mean", "sum"):
                weighted = tensor * batch_size if reduce_fx == "mean" else tensor
                metric.total = weighted if metric.total is None else metric.total + weighted
            elif metric.total is None:
                metric.total = tensor
            else:
                metric.total = torch.maximum(metric.total, tensor) if reduce_fx == "max" else torch.minimum(metric.total, tensor)
            metric.weight += batch_size

    def settle(self, loss: torch.Tensor | None = None) -> None:
        """End of a training step: detach the values logged as they were, except ``loss``
        once backward has freed its graph (then it is held, detached when read, as a
        hand-written loop holds its last loss), so no other graph outlives the step."""
        for metric in self._undetached:
            if metric.undetached and metric.step_value is not loss:
                metric.latest()
        self._undetached.clear()

    def _sync(self, metric: _Metric, tensor: torch.Tensor, op: str) -> torch.Tensor:
        if metric.sync_dist and self.reducer is not None:
            return self.reducer(tensor, op)
        return tensor

    def step_metrics(self, *, for_logger: bool, for_prog_bar: bool = False) -> dict[str, torch.Tensor]:
        """Latest per-step values, named ``name_step`` when also aggregated per epoch."""
        out: dict[str, torch.Tensor] = {}
        for name, metric in self.metrics.items():
            if not metric.on_step or metric.step_value is None:
                continue
            if for_logger and not metric.logger:
                continue
            if for_prog_bar and not metric.prog_bar:
                continue
            key = f"{name}_step" if metric.on_epoch and not for_prog_bar else name
            value = metric.latest()
            if not for_prog_bar:
                value = self._sync(metric, value, "mean" if metric.reduce_fx == "mean" else metric.reduce_fx)
            out[key] = value
        return out

    def epoch_metrics(self) -> dict[str, dict[str, torch.Tensor]]:
        """Aggregated values, as ``{"logger": ..., "callback": ..., "prog_bar": ...}``.

        Every process must call this at the same point: with ``sync_dist`` it
        runs a collective.
        """
        logger, callback, prog_bar = {}, {}, {}
        for name, metric in self.metrics.items():
            if not metric.on_epoch or metric.total is None:
                continue
            if metric.reduce_fx == "mean":
                total = self._sync(metric, metric.total, "sum")
                weight = self._sync(metric, torch.tensor(float(metric.weight), device=total.device), "sum")
                value = total / weight
            else:
                value = self._sync(metric, metric.total, metric.reduce_fx)
            key = f"{name}_epoch" if metric.on_step else name
            if metric.logger:
                logger[key] = value
            callback[key] = value
            callback[name] = value
            if metric.prog_bar:
                prog_bar[name] = value
        return {"logger": logger, "callback": callback, "prog_bar": prog_bar}

    def step_callback_metrics(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, metric in self.metrics.items():
            if metric.on_step and metric.step_value is not None:
                out[name] = metric.latest()
                if metric.on_epoch:
                    out[f"{name}_step"] = metric.step_value
        return out

    def reset(self) -> None:
        self.metrics.clear()
        self._undetached.clear()


def to_floats(metrics: dict[str, Any]) -> dict[str, float]:
    """Read tensors back to the host in one transfer (a single sync point)."""
    if not metrics:
        return {}
    names = list(metrics)
    tensors = [metrics[n] if isinstance(metrics[n], torch.Tensor) else torch.tensor(float(metrics[n])) for n in names]
    if len(tensors) == 1:
        return {names[0]: tensors[0].float().item()}
    devices = {t.device for t in tensors}
    if len(devices) == 1:
        values = torch.stack([t.float() for t in tensors]).tolist()
    else:
        values = [t.float().item() for t in tensors]
    return dict(zip(names, values))


def infer_batch_size(batch: Any) -> int:
    """The leading dimension of the first tensor in ``batch`` (1 when there is none)."""
    return _first_dim(batch) or 1


def _first_dim(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.ndim else 1
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for value in values:
        size = _first_dim(value)
        if size:
            return size
    return 0
