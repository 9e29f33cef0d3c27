"""The training, evaluation and prediction loops, written to be read top to bottom.

Per-step cost matters here (see bench/trainer_overhead.py): hooks that a
callback or module does not override are never called, metrics stay on the
device, and nothing reads a device value back except at logging steps.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Any

import torch
from torch import nn

from stager.errors import UsageError
from stager.train.data_loading import batch_limit, set_sampler_epoch
from stager.train.errors import NonFiniteLossError
from stager.train.precision import Precision
from stager.train.results import ResultCollection, to_floats
from stager.train.seed import capture_rng_states, restore_rng_states

_STOP_EPOCH = -1  # on_train_batch_start returning -1 ends the epoch, as in Lightning
_Tensor = torch.Tensor
_isfinite = math.isfinite


class StepRouter(nn.Module):
    """Sends ``training_step`` & co. through ``forward`` so DDP/FSDP hooks see them."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, hook: str, *args: Any) -> Any:
        return getattr(self.module, hook)(*args)


def to_device(batch: Any, device: torch.device) -> Any:
    kind = type(batch)
    if kind is list or kind is tuple:
        # The usual batch, plain tensors already on the device: the same copy the general
        # case below makes, without its recursion (and on CPU without building a device
        # object per tensor).
        on_cpu = device.type == "cpu"
        for item in batch:
            if type(item) is not _Tensor or not (item.is_cpu if on_cpu else item.device == device):
                break
        else:
            return batch.copy() if kind is list else batch
    if isinstance(batch, torch.Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        moved = [to_device(item, device) for item in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def _call_step(trainer, hook: str, *args: Any) -> Any:
    if trainer.model is not None:
        return trainer.model(hook, *args)
    return getattr(trainer.lightning_module, hook)(*args)


def _extract_loss(output: Any, batch_idx: int) -> torch.Tensor | None:
    if output is None or isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        if "loss" not in output:
            raise UsageError(f'training_step returned a dict without "loss" (batch {batch_idx})')
        return output["loss"]
    raise UsageError(f"training_step returned a {type(output).__name__}; return the loss tensor, a dict with 'loss', or None")


# -- training ---------------------------------------------------------------------


def fit_loop(trainer) -> None:
    trainer.state.stage = "train"
    results = ResultCollection(training=True, reducer=trainer._reducer(), batch_size=trainer._current_batch_size)
    trainer._train_results = trainer._results = results
    trainer._epoch_prog_bar = {}
    trainer._validated_at_step = -1
    skip, epoch_start_rng = 0, None
    resume = trainer._resume_from
    if resume:
        position = resume["loops"]
        if position.get("epoch_finished", True):
            trainer.current_epoch += 1
            trainer._restore_rng_for_resume()
        else:
            skip, epoch_start_rng = position["batches_done"], position["epoch_start_rng"]
    trainer.lightning_module.train()
    trainer._call_all("on_train_start")
    while not _fit_done(trainer):
        _train_epoch(trainer, results, skip, epoch_start_rng)
        skip, epoch_start_rng = 0, None
        if _stop_after_epoch(trainer):
            trainer.current_epoch += 1
            break
        trainer.current_epoch += 1
    trainer._call_all("on_train_end")
    trainer._check_finite()
    trainer._resume_from = None


def _fit_done(trainer) -> bool:
    if trainer.max_epochs is not None and trainer.max_epochs != -1 and trainer.current_epoch >= trainer.max_epochs:
        return True
    return trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps


def _time_up(trainer) -> bool:
    return trainer.max_time is not None and time.monotonic() - trainer._started_at >= trainer.max_time


def _min_reached(trainer) -> bool:
    return trainer.current_epoch + 1 >= trainer.min_epochs and trainer.global_step >= trainer.min_steps


def _stop_after_epoch(trainer) -> bool:
    if trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps:
        return True
    if _time_up(trainer):
        return True
    return trainer.should_stop and _min_reached(trainer)


def _val_every(trainer, n_batches: int | float) -> int | None:
    """Run validation after this many training batches within an epoch (None: at its end only)."""
    interval = trainer.val_check_interval
    if interval is None or interval == 1.0:
        return None
    if isinstance(interval, float):
        if not 0.0 < interval <= 1.0:
            raise UsageError(f"val_check_interval={interval}; a float is a fraction of an epoch in (0, 1]")
        if n_batches == float("inf"):
            raise UsageError("val_check_interval as a fraction needs a training loader with a length; give an int")
        return max(1, int(n_batches * interval))
    if interval < 1:
        raise UsageError(f"val_check_interval={interval}; use a positive number of batches or a fraction")
    return int(interval)


def _val_due_this_epoch(trainer) -> bool:
    every = trainer.check_val_every_n_epoch
    return bool(trainer.val_dataloaders) and (every is None or (trainer.current_epoch + 1) % every == 0)


class _StepPlan:
    """What a training step must do besides the user's code, settled once per epoch.

    Callbacks and the module are fixed while a fit runs, so a per-batch hook that
    nothing overrides (or that a callback says it leaves alone this epoch, see
    ``Callback._idle_in_train_batches``) is not dispatched at all; the precision
    plugin's calls are skipped when it is plain float32, and the context managers
    when there is neither a DDP/FSDP wrapper nor autocast.
    """

    __slots__ = ("after_backward", "batch_end_callbacks", "batch_end_module", "batch_start_callbacks", "batch_start_module",
                 "before_backward", "before_optimizer_step", "before_zero_grad", "device", "plain", "simple")

    def __init__(self, trainer) -> None:
        self.device = trainer.strategy.root_device
        self.plain = type(trainer._precision_plugin) is Precision
        self.simple = self.plain and trainer.model is None
        self.batch_start_callbacks = trainer._has_callback_hook("on_train_batch_start", in_train_batches=True)
        self.batch_start_module = trainer._has_module_hook("on_train_batch_start")
        self.before_backward = trainer._has_hook("on_before_backward")
        self.after_backward = trainer._has_hook("on_after_backward")
        self.before_optimizer_step = trainer._has_hook("on_before_optimizer_step")
        self.before_zero_grad = trainer._has_hook("on_before_zero_grad")
        self.batch_end_callbacks = trainer._has_callback_hook("on_train_batch_end", in_train_batches=True)
        self.batch_end_module = trainer._has_module_hook("on_train_batch_end")


def _train_epoch(trainer, results: ResultCollection, skip: int, epoch_start_rng: dict | None) -> None:
    loader = trainer.train_dataloader
    set_sampler_epoch(loader, trainer.current_epoch)
    n_batches = batch_limit(loader, trainer.limit_train_batches, "train")
    if n_batches == 0:
        raise UsageError("the training dataloader yields no batches (empty dataset, or limit_train_batches=0)")
    trainer.num_training_batches = n_batches
    val_every = _val_every(trainer, n_batches)
    trainer._at_epoch_end = False
    results.reset()
    trainer._results = results
    trainer._call_all("on_train_epoch_start")
    trainer._step_plan = plan = _StepPlan(trainer)

    if epoch_start_rng is not None:
        restore_rng_states(epoch_start_rng)
    trainer._loop_position = {"epoch_finished": False, "batches_done": skip, "epoch_start_rng": capture_rng_states()}
    iterator = iter(loader)
    for _ in range(skip):  # resuming mid-epoch: replay the sampler to the saved position
        next(iterator)
    if skip:
        trainer._restore_rng_for_resume()

    accumulate = trainer.accumulate_grad_batches
    pending = False  # gradients accumulated but not yet stepped
    seen = skip
    for batch_idx, batch in enumerate(iterator, start=skip):
        if batch_idx >= n_batches:
            break
        seen = batch_idx + 1
        outcome = _train_batch(trainer, plan, batch, batch_idx, seen % accumulate == 0 or seen == n_batches)
        if outcome is _STOP_EPOCH:
            break
        pending = outcome is _ACCUMULATED
        if val_every and seen % val_every == 0 and seen != n_batches and _val_due_this_epoch(trainer):
            run_validation(trainer)
        if trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps:
            break
        if trainer.max_time is not None and _time_up(trainer):
            break
        if trainer.should_stop and _min_reached(trainer):
            break
    if seen == skip and skip == 0:
        raise UsageError("the training dataloader yielded no batches; check the dataset and its size")
    if pending:  # an unsized loader ended inside an accumulation window
        _optimizer_step(trainer)
    _end_train_epoch(trainer, results)


_ACCUMULATED = "accumulated"  # _train_batch's outcome: gradients added, no optimizer step yet


def _train_batch(trainer, plan: _StepPlan, batch: Any, batch_idx: int, should_step: bool) -> Any:
    trainer._batch, trainer._batch_size = batch, None
    trainer._step_completed_this_batch = False
    batch = to_device(batch, plan.device)
    if not plan.plain:
        batch = trainer._precision_plugin.convert_input(batch)
    trainer._batch = batch
    if plan.batch_start_callbacks:
        trainer._call_callbacks("on_train_batch_start", batch, batch_idx)
    if plan.batch_start_module and trainer._call_module("on_train_batch_start", batch, batch_idx) == _STOP_EPOCH:
        trainer._train_results.settle()
        return _STOP_EPOCH

    if plan.simple:  # no DDP/FSDP wrapper, no autocast: nothing to enter
        output = trainer.lightning_module.training_step(batch, batch_idx)
        loss = _backward(trainer, plan, output, batch_idx)
    else:
        model = trainer.model  # the DDP/FSDP wrapper, or None
        no_sync = trainer.strategy.no_backward_sync(model, enabled=not should_step) if model is not None else contextlib.nullcontext()
        with no_sync:  # the backward pass too: DDP skips its all-reduce inside
            with trainer._precision_plugin.autocast():
                output = _call_step(trainer, "training_step", batch, batch_idx)
            loss = _backward(trainer, plan, output, batch_idx)
    if should_step and (loss is not None or trainer._grads_pending):
        _optimizer_step(trainer)  # (clears _grads_pending)
        outcome = None
    else:
        outcome = _ACCUMULATED if loss is not None else None
        trainer._grads_pending = loss is not None
    trainer._loop_position["batches_done"] = batch_idx + 1  # before callbacks that may checkpoint
    if plan.batch_end_callbacks:
        trainer._call_callbacks("on_train_batch_end", output, batch, batch_idx)
    if plan.batch_end_module:
        trainer._call_module("on_train_batch_end", output, batch, batch_idx)
    trainer._train_results.settle(loss)
    if trainer._checkpoint_writer.durable:  # a checkpoint saved in the background is now on disk
        trainer._announce_checkpoints()
    return outcome


def _backward(trainer, plan: _StepPlan, output: Any, batch_idx: int) -> torch.Tensor | None:
    """The loss out of ``training_step``'s output, checked and backpropagated (None: skip the batch)."""
    loss = output if isinstance(output, _Tensor) else _extract_loss(output, batch_idx)
    if loss is None:
        return None
    _watch_finite(trainer, loss)
    scaled = loss / trainer.accumulate_grad_batches if trainer.accumulate_grad_batches > 1 else loss
    if plan.before_backward:
        trainer._call_all("on_before_backward", scaled)
    if plan.plain:
        scaled.backward()
    else:
        trainer._precision_plugin.backward(scaled)
    if plan.after_backward:
        trainer._call_all("on_after_backward")
    return loss


def _watch_finite(trainer, loss: torch.Tensor) -> None:
    flag = trainer._nonfinite_step
    if isinstance(flag, _Tensor):
        # On CUDA, record the first bad step on the device: no sync here; it is
        # read at logging steps and before any checkpoint is written.
        bad = ~torch.isfinite(loss.detach())
        trainer._nonfinite_step = torch.where(bad & (flag < 0), trainer.global_step, flag)
    elif not _isfinite(loss.item()):  # on CPU reading the loss is cheap: no device to wait for
        raise NonFiniteLossError(trainer.global_step, trainer._last_good_checkpoint())


def _optimizer_step(trainer) -> None:
    optimizer = trainer.optimizers[0]
    precision = trainer._precision_plugin
    plan = trainer._step_plan
    if precision.scaler is not None:
        precision.unscale(optimizer)
    if plan.before_optimizer_step:
        trainer._call_all("on_before_optimizer_step", optimizer)
    if trainer.gradient_clip_val:
        precision.unscale(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if trainer.gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, trainer.gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(params, trainer.gradient_clip_val)
    if plan.plain:
        optimizer.step()
    else:
        precision.step(optimizer)
    if plan.before_zero_grad:
        trainer._call_all("on_before_zero_grad", optimizer)
    optimizer.zero_grad(set_to_none=True)
    trainer.global_step = step = trainer.global_step + 1
    trainer._step_completed_this_batch = True
    trainer._grads_pending = False
    if trainer.lr_scheduler_configs:
        for config in trainer.lr_scheduler_configs:
            if config.interval == "step" and step % config.frequency == 0:
                _step_scheduler(trainer, config)
    every = trainer.log_every_n_steps
    if every > 0 and step % every == 0:
        trainer._check_finite()
        if trainer.loggers:
            trainer._log_to_loggers(trainer._train_results.step_metrics(for_logger=True), step)
        trainer.callback_metrics.update(trainer._train_results.step_callback_metrics())


def _step_scheduler(trainer, config) -> None:
    if not config.reduce_on_plateau:
        config.scheduler.step()
        return
    value = trainer.callback_metrics.get(config.monitor)
    if value is None:
        if config.strict:
            raise UsageError(
                f"ReduceLROnPlateau monitors {config.monitor!r}, which was not logged; logged: "
                f"{', '.join(sorted(trainer.callback_metrics)) or 'none'}"
            )
        return
    config.scheduler.step(float(value))


def _end_train_epoch(trainer, results: ResultCollection) -> None:
    trainer._at_epoch_end = True
    # (a run stopped by max_steps may have just validated at this very step)
    if _val_due_this_epoch(trainer) and trainer._validated_at_step != trainer.global_step:
        run_validation(trainer)
    trainer._at_epoch_end = True
    trainer._results = results
    trainer._loop_position["epoch_finished"] = True
    trainer._call_callbacks("on_train_epoch_end", monitoring=False)
    trainer._call_module("on_train_epoch_end")
    epoch = results.epoch_metrics()
    trainer.callback_metrics.update(results.step_callback_metrics())
    trainer.callback_metrics.update(epoch["callback"])
    trainer._epoch_prog_bar.update(epoch["prog_bar"])
    trainer._log_to_loggers(epoch["logger"], trainer.global_step)
    for config in trainer.lr_scheduler_configs:
        if config.interval == "epoch" and (trainer.current_epoch + 1) % config.frequency == 0:
            _step_scheduler(trainer, config)
    trainer._call_callbacks("on_train_epoch_end", monitoring=True)
    trainer._check_finite()
    for logger in trainer.loggers if trainer.is_global_zero else []:
        logger.save()


# -- evaluation ---------------------------------------------------------------------


def sanity_check(trainer) -> None:
    """A few validation batches before training, so a broken validation_step fails in seconds."""
    if not trainer.val_dataloaders or trainer.num_sanity_val_steps == 0:
        return
    trainer.sanity_checking = True
    trainer.state.stage = "sanity_check"
    trainer._call_callbacks("on_sanity_check_start")
    try:
        run_validation(trainer, sanity=True)
    finally:
        trainer.sanity_checking = False
    trainer._call_callbacks("on_sanity_check_end")


def run_validation(trainer, sanity: bool = False) -> None:
    """Validation inside fit: metrics go to loggers and ``callback_metrics``."""
    previous = trainer._results, trainer.state.stage
    limit = trainer.limit_val_batches
    if sanity:
        limit = None if trainer.num_sanity_val_steps == -1 else trainer.num_sanity_val_steps
    trainer.state.stage = "sanity_check" if sanity else "validate"
    metrics = _evaluate(trainer, "validation", trainer.val_dataloaders, limit, torch.no_grad)
    if not sanity:
        trainer._validated_at_step = trainer.global_step
        trainer.callback_metrics.update(metrics["callback"])
        trainer._epoch_prog_bar.update(metrics["prog_bar"])
        trainer._log_to_loggers(metrics["logger"], trainer.global_step)
    trainer._call_callbacks("on_validation_end")
    trainer._call_module("on_validation_end")
    trainer.lightning_module.train()
    trainer._results, trainer.state.stage = previous


def evaluation_loop(trainer, stage: str, loaders: list, limit: Any) -> list[dict[str, float]]:
    """``trainer.validate`` / ``trainer.test``: one dict of metrics per dataloader."""
    name = "validation" if stage == "validate" else "test"
    trainer.state.stage = stage
    trainer._epoch_prog_bar = {}
    grad_off = torch.inference_mode if trainer.inference_mode else torch.no_grad
    metrics = _evaluate(trainer, name, loaders, limit, grad_off)
    trainer.callback_metrics.update(metrics["callback"])
    trainer._log_to_loggers(metrics["logger"], trainer.global_step)
    trainer._call_callbacks(f"on_{name}_end")
    trainer._call_module(f"on_{name}_end")
    values = to_floats(metrics["logger"] or metrics["callback"])
    if len(loaders) == 1:
        return [values]
    return [{k: v for k, v in values.items() if k.endswith(f"/dataloader_idx_{i}")} for i in range(len(loaders))]


def _evaluate(trainer, name: str, loaders: list, limit: Any, grad_off) -> dict[str, dict]:
    module = trainer.lightning_module
    precision = trainer._precision_plugin
    results = ResultCollection(training=False, reducer=trainer._reducer(), batch_size=trainer._current_batch_size)
    trainer._results = results
    module.eval()
    trainer._call_all(f"on_{name}_start")
    trainer._call_all(f"on_{name}_epoch_start")
    step = f"{name}_step"
    what = "val" if name == "validation" else name
    with grad_off():
        for dataloader_idx, loader in enumerate(loaders):
            n_batches = batch_limit(loader, limit, what)
            extra = (dataloader_idx,) if len(loaders) > 1 else ()
            trainer._dataloader_suffix = f"/dataloader_idx_{dataloader_idx}" if len(loaders) > 1 else ""
            for batch_idx, batch in enumerate(loader):
                if batch_idx >= n_batches:
                    break
                trainer._batch, trainer._batch_size = batch, None
                batch = precision.convert_input(to_device(batch, trainer.strategy.root_device))
                trainer._batch = batch
                trainer._call_callbacks(f"on_{name}_batch_start", batch, batch_idx, *extra)
                with precision.autocast():
                    output = _call_step(trainer, step, batch, batch_idx, *extra)
                trainer._call_callbacks(f"on_{name}_batch_end", output, batch, batch_idx, *extra)
    trainer._dataloader_suffix = ""
    trainer._call_callbacks(f"on_{name}_epoch_end")
    trainer._call_module(f"on_{name}_epoch_end")
    return results.epoch_metrics()


def predict_loop(trainer, loaders: list) -> list:
    module = trainer.lightning_module
    precision = trainer._precision_plugin
    trainer.state.stage = "predict"
    module.eval()
    trainer._call_all("on_predict_start")
    trainer._call_all("on_predict_epoch_start")
    outputs: list[list] = []
    with torch.inference_mode():
        for dataloader_idx, loader in enumerate(loaders):
            n_batches = batch_limit(loader, trainer.limit_predict_batches, "predict")
            collected = []
            for batch_idx, batch in enumerate(loader):
                if batch_idx >= n_batches:
                    break
                batch = precision.convert_input(to_device(batch, trainer.strategy.root_device))
                trainer._call_callbacks("on_predict_batch_start", batch, batch_idx, dataloader_idx)
                with precision.autocast():
                    output = module.predict_step(batch, batch_idx, dataloader_idx) if len(loaders) > 1 else module.predict_step(batch, batch_idx)
                trainer._call_callbacks("on_predict_batch_end", output, batch, batch_idx, dataloader_idx)
                collected.append(output)
            outputs.append(collected)
    trainer._call_all("on_predict_epoch_end")
    trainer._call_all("on_predict_end")
    return outputs[0] if len(outputs) == 1 else outputs


def print_results(stage: str, results: list[dict[str, float]]) -> None:
    rows = [(name, value) for metrics in results for name, value in sorted(metrics.items()) if name != "epoch"]
    if not rows:
        return
    width = max(len(name) for name, _ in rows)
    print(f"{stage} results", file=sys.stdout)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:.6g}", file=sys.stdout)
