"""Turning whatever ``configure_optimizers`` returns into optimizers and scheduler configs.

Accepted, as in Lightning: an optimizer; a list or tuple of one; ``([opt],
[sched, ...])``; a dict ``{"optimizer": opt, "lr_scheduler": sched_or_dict,
"monitor": ...}``; a list of such dicts.  A scheduler dict has ``scheduler``,
``interval`` ("epoch" or "step"), ``frequency``, ``monitor``, ``strict`` and
``name``.  Several optimizers stepping together need manual optimization,
which stager does not support: that is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from stager.errors import UsageError

_SCHEDULER_KEYS = {"scheduler", "interval", "frequency", "monitor", "strict", "name", "reduce_on_plateau"}


@dataclass
class LRSchedulerConfig:
    scheduler: Any
    # "epoch": step after each training epoch; "step": after each optimizer step
    interval: str = "epoch"
    # step every `frequency` intervals
    frequency: int = 1
    # metric given to ReduceLROnPlateau.step
    monitor: str | None = None
    # a missing monitored metric is an error (True) or skips the step (False)
    strict: bool = True
    # name shown by LearningRateMonitor
    name: str | None = None
    reduce_on_plateau: bool = False


def _bad(what: str) -> UsageError:
    return UsageError(
        f"configure_optimizers returned {what}; return an optimizer, or a dict "
        '{"optimizer": ..., "lr_scheduler": {"scheduler": ..., "interval": "epoch"|"step"}}'
    )


def _scheduler_config(item: Any, default_monitor: str | None) -> LRSchedulerConfig:
    if isinstance(item, dict):
        unknown = set(item) - _SCHEDULER_KEYS
        if unknown:
            raise _bad(f"an lr_scheduler dict with unknown keys {sorted(unknown)}")
        if "scheduler" not in item:
            raise _bad('an lr_scheduler dict without "scheduler"')
        config = LRSchedulerConfig(**{k: v for k, v in item.items() if k != "reduce_on_plateau"})
    elif hasattr(item, "step") and hasattr(item, "optimizer"):
        config = LRSchedulerConfig(scheduler=item)
    else:
        raise _bad(f"an lr_scheduler of type {type(item).__name__}")
    if config.interval not in ("epoch", "step"):
        raise _bad(f'lr_scheduler interval {config.interval!r} (use "epoch" or "step")')
    if not isinstance(config.frequency, int) or config.frequency < 1:
        raise _bad(f"lr_scheduler frequency {config.frequency!r} (use a positive integer)")
    config.reduce_on_plateau = isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if config.reduce_on_plateau:
        config.monitor = config.monitor or default_monitor
        if config.monitor is None:
            raise _bad('ReduceLROnPlateau without a "monitor" metric')
    return config


def _from_dict(result: dict) -> tuple[list, list[LRSchedulerConfig]]:
    unknown = set(result) - {"optimizer", "lr_scheduler", "monitor"}
    if unknown:
        raise _bad(f"a dict with unknown keys {sorted(unknown)}")
    if "optimizer" not in result:
        raise _bad('a dict without "optimizer"')
    schedulers = result.get("lr_scheduler")
    configs: list[LRSchedulerConfig] = []
    if schedulers is not None:
        items = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
        configs = [_scheduler_config(s, result.get("monitor")) for s in items]
    return [result["optimizer"]], configs


def parse_optimizers(result: Any) -> tuple[list[torch.optim.Optimizer], list[LRSchedulerConfig]]:
    """Normalise ``configure_optimizers``' return value.

    Raises:
        UsageError: for an unrecognised shape or more than one optimizer.
    """
    if result is None:
        return [], []
    optimizers: list
    configs: list[LRSchedulerConfig] = []
    if isinstance(result, torch.optim.Optimizer):
        optimizers = [result]
    elif isinstance(result, dict):
        optimizers, configs = _from_dict(result)
    elif isinstance(result, (list, tuple)):
        if len(result) == 2 and all(isinstance(part, (list, tuple)) for part in result):
            optimizers = list(result[0])
            configs = [_scheduler_config(s, None) for s in result[1]]
        elif all(isinstance(part, dict) for part in result):
            optimizers = []
            for part in result:
                opts, cfgs = _from_dict(part)
                optimizers += opts
                configs += cfgs
        else:
            optimizers = list(result)
    else:
        raise _bad(f"a {type(result).__name__}")
    for optimizer in optimizers:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise _bad(f"{type(optimizer).__name__} where an optimizer was expected")
    if len(optimizers) > 1:
        raise UsageError(
            f"configure_optimizers returned {len(optimizers)} optimizers; stager steps one optimizer "
            "(combine parameter groups in one optimizer instead)"
        )
    return optimizers, configs
