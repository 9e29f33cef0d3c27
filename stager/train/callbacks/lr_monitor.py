"""``LearningRateMonitor``: log each optimizer's learning rate (and momentum)."""

from __future__ import annotations

from stager.errors import UsageError
from stager.train.callbacks.base import Callback


class LearningRateMonitor(Callback):
    """Logs ``lr-<OptimizerName>`` (``/pg<N>`` per extra parameter group), or the
    scheduler's ``name`` when it has one, at every logging step or epoch end."""

    def __init__(self, logging_interval: str | None = None, log_momentum: bool = False, log_weight_decay: bool = False) -> None:
        if logging_interval not in (None, "step", "epoch"):
            raise UsageError(f'LearningRateMonitor logging_interval {logging_interval!r}; use "step", "epoch" or null')
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay

    def _values(self, trainer) -> dict[str, float]:
        names = {id(c.scheduler.optimizer): c.name for c in trainer.lr_scheduler_configs if c.name}
        values: dict[str, float] = {}
        for optimizer in trainer.optimizers:
            base = names.get(id(optimizer)) or f"lr-{type(optimizer).__name__}"
            groups = optimizer.param_groups
            for index, group in enumerate(groups):
                key = base if len(groups) == 1 else f"{base}/pg{index + 1}"
                values[key] = float(group["lr"])
                if self.log_momentum:
                    momentum = group.get("momentum", group.get("betas", (None,))[0])
                    if momentum is not None:
                        values[key + "-momentum"] = float(momentum)
                if self.log_weight_decay and "weight_decay" in group:
                    values[key + "-weight_decay"] = float(group["weight_decay"])
        return values

    def _interval(self, trainer) -> str:
        """With no interval given, follow the schedulers: per step if any steps per step."""
        if self.logging_interval is not None:
            return self.logging_interval
        return "step" if any(c.interval == "step" for c in trainer.lr_scheduler_configs) else "epoch"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self._interval(trainer) == "step" and trainer._will_log_this_step():
            trainer._log_to_loggers(self._values(trainer), trainer.global_step)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._interval(trainer) == "epoch":
            trainer._log_to_loggers(self._values(trainer), trainer.global_step)
