"""``Trainer``: owns devices, precision, loops, logging and checkpoints.

Arguments and methods follow Lightning's ``Trainer``; the loops themselves live
in ``loops.py``.  Not supported: manual optimization, several optimizers,
``overfit_batches``, TPUs/IPUs, sharded checkpoints, and tuner features.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable

import torch

from stager.errors import UsageError
from stager.train import loops
from stager.train.callbacks.base import Callback
from stager.train.callbacks.early_stopping import EarlyStopping
from stager.train.callbacks.model_checkpoint import ModelCheckpoint
from stager.train.callbacks.progress import TQDMProgressBar
from stager.train.checkpoint_writer import CheckpointWriter
from stager.train.datamodule import DataModule
from stager.train.loggers.base import Logger
from stager.train.module import Module
from stager.train.optim import LRSchedulerConfig, parse_optimizers
from stager.train.precision import make_precision, normalize_precision
from stager.train.results import ResultCollection, infer_batch_size, to_floats
from stager.train.trainer_checkpoints import CheckpointMixin
from stager.train.strategy import make_strategy, resolve_accelerator, resolve_devices

# Callbacks that act on monitored metrics run after the module's epoch-end hook,
# so they see what the module logged there (Lightning's order too).
_MONITORING = (ModelCheckpoint, EarlyStopping)


@dataclass
class TrainerState:
    # "fit", "validate", "test" or "predict" while that method runs
    fn: str | None = None
    # "train", "sanity_check", "validate", "test" or "predict"
    stage: str | None = None
    # "running", "finished", "interrupted" or "failed"
    status: str = "initializing"


def _parse_max_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return timedelta(**value).total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            days, hours, minutes, seconds = (int(p) for p in parts)
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds()
    raise UsageError(f'max_time={value!r}; use "DD:HH:MM:SS", a dict like {{"hours": 2}}, or seconds')


class Trainer(CheckpointMixin):
    def __init__(
        self,
        *,
        accelerator: str = "auto",
        strategy: str = "auto",
        devices: int | str | list[int] = "auto",
        num_nodes: int = 1,
        precision: str | int = "32-true",
        logger: bool | Logger | Iterable[Logger] | None = None,
        callbacks: list[Callback] | Callback | None = None,
        fast_dev_run: bool | int = False,
        max_epochs: int | None = None,
        min_epochs: int | None = None,
        max_steps: int = -1,
        min_steps: int | None = None,
        max_time: str | dict | timedelta | None = None,
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        limit_test_batches: int | float | None = None,
        limit_predict_batches: int | float | None = None,
        val_check_interval: int | float | None = None,
        check_val_every_n_epoch: int | None = 1,
        num_sanity_val_steps: int | None = None,
        log_every_n_steps: int | None = None,
        enable_checkpointing: bool | None = None,
        enable_progress_bar: bool | None = None,
        enable_model_summary: bool | None = None,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
        deterministic: bool | None = None,
        benchmark: bool | None = None,
        inference_mode: bool = True,
        use_distributed_sampler: bool = True,
        detect_anomaly: bool = False,
        default_root_dir: str | os.PathLike | None = None,
    ) -> None:
        self.default_root_dir = str(default_root_dir) if default_root_dir is not None else os.getcwd()
        self.accelerator = resolve_accelerator(accelerator)
        self.num_nodes = int(num_nodes)
        self.strategy = make_strategy(strategy, self.accelerator, resolve_devices(devices, self.accelerator), self.num_nodes)
        self.precision = normalize_precision(precision)

        self.fast_dev_run = int(fast_dev_run) if fast_dev_run is not False else 0
        if self.fast_dev_run < 0:
            raise UsageError(f"fast_dev_run={fast_dev_run}; use true or a positive number of batches")
        if self.fast_dev_run:
            n = self.fast_dev_run
            max_epochs, max_steps, num_sanity_val_steps, val_check_interval = 1, n, 0, 1.0
            limit_train_batches = limit_val_batches = limit_test_batches = limit_predict_batches = n
            logger, enable_checkpointing = False, False
        if max_epochs is None and max_steps == -1 and max_time is None:
            max_epochs = 1000  # Lightning's default, so an unbounded fit still ends
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs or 0
        self.max_steps = max_steps
        self.min_steps = min_steps or 0
        self.max_time = _parse_max_time(max_time)
        self.limit_train_batches = limit_train_batches
        self.limit_val_batches = limit_val_batches
        self.limit_test_batches = limit_test_batches
        self.limit_predict_batches = limit_predict_batches
        self.val_check_interval = val_check_interval
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.num_sanity_val_steps = 2 if num_sanity_val_steps is None else num_sanity_val_steps
        self.log_every_n_steps = 50 if log_every_n_steps is None else int(log_every_n_steps)
        if accumulate_grad_batches < 1:
            raise UsageError(f"accumulate_grad_batches={accumulate_grad_batches}; use 1 or more")
        self.accumulate_grad_batches = int(accumulate_grad_batches)
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm or "norm"
        if self.gradient_clip_algorithm not in ("norm", "value"):
            raise UsageError(f'gradient_clip_algorithm={gradient_clip_algorithm!r}; use "norm" or "value"')
        self.deterministic = bool(deterministic)
        self.benchmark = benchmark
        self.inference_mode = inference_mode
        self.use_distributed_sampler = use_distributed_sampler
        self.detect_anomaly = detect_anomaly
        self.enable_model_summary = enable_model_summary is not False

        self.loggers: list[Logger] = self._make_loggers(logger)
        self.callbacks: list[Callback] = self._make_callbacks(callbacks, enable_checkpointing, enable_progress_bar)
        self._print_epoch_lines = enable_progress_bar is not False

        self.state = TrainerState()
        self.current_epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.sanity_checking = False
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self.logged_metrics: dict[str, float] = {}
        self.optimizers: list[torch.optim.Optimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self.num_training_batches: int | float = 0
        self.num_val_batches: list[int | float] = []
        self.resolved_config: dict[str, Any] | None = None
        self.lightning_module: Module | None = None
        self.datamodule: DataModule | None = None
        self.model: torch.nn.Module | None = None  # what is called: the module or its DDP/FSDP wrapper
        self.train_dataloader = None
        self.val_dataloaders: list = []
        self._precision_plugin = None
        self._results: ResultCollection | None = None
        self._train_results: ResultCollection | None = None
        self._batch = None
        self._batch_size: int | None = None
        self._at_epoch_end = False
        self._step_completed_this_batch = False
        self._loop_position = {"epoch_finished": False, "batches_done": 0, "epoch_start_rng": None}
        self._resume_from: dict[str, Any] | None = None
        self._started_at = 0.0
        self._nonfinite_step: torch.Tensor | int | None = None
        self._grads_pending = False
        self._hook_cache: dict[tuple, list] = {}
        self._step_plan = None  # loops._StepPlan of the running training epoch
        self._module_hook_cache: dict[str, bool] = {}
        self._validated_at_step = -1
        self._dataloader_suffix = ""
        self._epoch_prog_bar: dict[str, torch.Tensor] = {}
        self._checkpoint_writer = CheckpointWriter()

    # -- construction helpers ---------------------------------------------
    def _make_loggers(self, logger: Any) -> list[Logger]:
        if logger is None or logger is True:
            from stager.train.loggers.csv_logs import CSVLogger

            return [CSVLogger(self.default_root_dir)]
        if logger is False:
            return []
        loggers = list(logger) if isinstance(logger, (list, tuple)) else [logger]
        for item in loggers:
            if not isinstance(item, Logger):
                raise UsageError(f"logger must be a stager.train.loggers.Logger, got {type(item).__name__}")
        return loggers

    def _make_callbacks(self, callbacks: Any, enable_checkpointing: bool | None, enable_progress_bar: bool | None) -> list[Callback]:
        items = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([callbacks] if callbacks else [])
        for item in items:
            if not isinstance(item, Callback):
                raise UsageError(f"callbacks must be stager.train.Callback instances, got {type(item).__name__}")
        has_checkpoint = any(isinstance(c, ModelCheckpoint) for c in items)
        if enable_checkpointing is False and has_checkpoint:
            raise UsageError("enable_checkpointing=False but a ModelCheckpoint callback was given; drop one of the two")
        if enable_checkpointing is not False and not has_checkpoint:
            items.append(ModelCheckpoint())
        has_bar = any(isinstance(c, TQDMProgressBar) for c in items)
        if enable_progress_bar is not False and not has_bar:
            items.append(TQDMProgressBar())
        if enable_progress_bar is False:
            items = [c for c in items if not isinstance(c, TQDMProgressBar)]
        return items

    # -- properties Lightning users reach for --------------------------------
    @property
    def global_rank(self) -> int:
        return self.strategy.global_rank

    @property
    def local_rank(self) -> int:
        return self.strategy.local_rank

    @property
    def node_rank(self) -> int:
        return self.strategy.node_rank

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    @property
    def is_global_zero(self) -> bool:
        return self.strategy.global_rank == 0

    @property
    def logger(self) -> Logger | None:
        return self.loggers[0] if self.loggers else None

    @property
    def log_dir(self) -> str:
        if self.loggers and self.loggers[0].log_dir:
            return self.loggers[0].log_dir
        return self.default_root_dir

    @property
    def checkpoint_callbacks(self) -> list[ModelCheckpoint]:
        return [c for c in self.callbacks if isinstance(c, ModelCheckpoint)]

    @property
    def checkpoint_callback(self) -> ModelCheckpoint | None:
        found = self.checkpoint_callbacks
        return found[0] if found else None

    @property
    def early_stopping_callback(self) -> EarlyStopping | None:
        return next((c for c in self.callbacks if isinstance(c, EarlyStopping)), None)

    @property
    def progress_bar_callback(self) -> TQDMProgressBar | None:
        return next((c for c in self.callbacks if isinstance(c, TQDMProgressBar)), None)

    @property
    def training(self) -> bool:
        return self.state.stage == "train"

    @property
    def estimated_stepping_batches(self) -> int | float:
        per_epoch = self.num_training_batches / self.accumulate_grad_batches
        by_epochs = per_epoch * self.max_epochs if self.max_epochs not in (None, -1) else float("inf")
        by_steps = self.max_steps if self.max_steps not in (None, -1) else float("inf")
        return int(min(by_epochs, by_steps)) if min(by_epochs, by_steps) != float("inf") else float("inf")

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        """The ``prog_bar`` metrics, read back from the device (a sync point: call rarely)."""
        shown: dict[str, Any] = {}
        if self._train_results is not None:
            shown.update(self._train_results.step_metrics(for_logger=False, for_prog_bar=True))
        shown.update(self._epoch_prog_bar)
        return to_floats(shown)

    # -- logging -------------------------------------------------------------
    def _log(
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
        results = self._results
        if results is None:
            raise UsageError(f"self.log({name!r}) was called outside a training, validation or test step or hook")
        if self._dataloader_suffix:
            name += self._dataloader_suffix
        results.log(name, value, prog_bar, logger, on_step, on_epoch, reduce_fx, sync_dist, batch_size)

    def _current_batch_size(self) -> int:
        """The batch size per-epoch means are weighted by, when ``self.log`` is given none."""
        if self._batch_size is None:
            self._batch_size = infer_batch_size(self._batch)
        return self._batch_size

    def _will_log_this_step(self) -> bool:
        return self.log_every_n_steps > 0 and (self.global_step + 1) % self.log_every_n_steps == 0

    def _log_to_loggers(self, metrics: dict[str, Any], step: int) -> None:
        if not metrics or not self.is_global_zero or not self.loggers:
            return
        values = to_floats(metrics)
        values["epoch"] = float(self.current_epoch)
        self.logged_metrics.update(values)
        for logger in self.loggers:
            logger.log_metrics(values, step)

    def _callback_metrics_as_floats(self) -> dict[str, float]:
        return to_floats(self.callback_metrics)

    def _reducer(self):
        return self.strategy.reduce if self.strategy.is_distributed else None

    # -- hooks ---------------------------------------------------------------
    def _callback_methods(self, hook: str, monitoring: bool | None = None) -> list:
        key = (hook, monitoring)
        methods = self._hook_cache.get(key)
        if methods is None:  # resolved once per hook: most callbacks override few hooks
            methods = [
                getattr(callback, hook)
                for callback in self.callbacks
                if (monitoring is None or isinstance(callback, _MONITORING) == monitoring)
                and getattr(type(callback), hook) is not getattr(Callback, hook)
            ]
            self._hook_cache[key] = methods
        return methods

    def _call_callbacks(self, hook: str, *args: Any, monitoring: bool | None = None) -> None:
        methods = self._hook_cache.get((hook, monitoring))
        if methods is None:
            methods = self._callback_methods(hook, monitoring)
        for method in methods:
            method(self, self.lightning_module, *args)

    def _has_module_hook(self, hook: str) -> bool:
        """Whether the module overrides ``hook`` (``_call_module`` calls nothing if not)."""
        overridden = self._module_hook_cache.get(hook)
        if overridden is None:  # resolved once per hook
            overridden = getattr(type(self.lightning_module), hook, None) is not getattr(Module, hook, None)
            self._module_hook_cache[hook] = overridden
        return overridden

    def _call_module(self, hook: str, *args: Any) -> Any:
        overridden = self._module_hook_cache.get(hook)
        if overridden is None:
            overridden = self._has_module_hook(hook)
        return getattr(self.lightning_module, hook)(*args) if overridden else None

    def _has_callback_hook(self, hook: str, in_train_batches: bool = False) -> bool:
        """Whether ``_call_callbacks(hook)`` would call anything (the loop skips it if not).

        ``in_train_batches``: asked at the start of a training epoch about a per-batch
        hook; callbacks that say they leave ``hook`` alone until the next epoch (a
        progress bar that is off, a ModelCheckpoint without ``every_n_train_steps``)
        do not count.
        """
        methods = self._callback_methods(hook)
        if not in_train_batches:
            return bool(methods)
        for method in methods:
            idle = getattr(method.__self__, "_idle_in_train_batches", None)
            if idle is None or not idle(hook):
                return True
        return False

    def _has_hook(self, hook: str) -> bool:
        """Whether ``_call_all(hook)`` would call anything."""
        return self._has_callback_hook(hook) or self._has_module_hook(hook)

    def _call_datamodule(self, hook: str, *args: Any) -> None:
        if self.datamodule is not None:
            getattr(self.datamodule, hook)(*args)

    def _call_all(self, hook: str, *args: Any) -> None:
        """Callbacks first, then the module: Lightning's order for most hooks."""
        self._call_callbacks(hook, *args)
        self._call_module(hook, *args)

    # -- public entry points -------------------------------------------------
    def fit(self, model: Module, train_dataloaders=None, val_dataloaders=None, datamodule: DataModule | None = None, ckpt_path: str | None = None) -> None:
        """Train ``model``; with ``ckpt_path`` (a path, "last" or "best") resume exactly where it stopped.

        Raises:
            UsageError: the model, data or configuration is unusable (nothing trained).
            NonFiniteLossError: the loss became NaN or Inf; the last good checkpoint is kept.
        """
        self._check_model(model, require_training_step=True)
        if datamodule is not None and train_dataloaders is not None:
            raise UsageError("pass either train_dataloaders or datamodule to fit, not both")
        args = (model, train_dataloaders, val_dataloaders, datamodule, ckpt_path)
        return self._dispatch("_run_fit", *args)

    def validate(self, model: Module | None = None, dataloaders=None, ckpt_path: str | None = None, verbose: bool = True, datamodule: DataModule | None = None) -> list[dict[str, float]]:
        return self._dispatch("_run_eval", "validate", model, dataloaders, ckpt_path, verbose, datamodule)

    def test(self, model: Module | None = None, dataloaders=None, ckpt_path: str | None = None, verbose: bool = True, datamodule: DataModule | None = None) -> list[dict[str, float]]:
        return self._dispatch("_run_eval", "test", model, dataloaders, ckpt_path, verbose, datamodule)

    def predict(self, model: Module | None = None, dataloaders=None, datamodule: DataModule | None = None, return_predictions: bool = True, ckpt_path: str | None = None) -> list | None:
        outputs = self._dispatch("_run_predict", model, dataloaders, datamodule, ckpt_path)
        return outputs if return_predictions else None

    def _dispatch(self, method: str, *args: Any) -> Any:
        model = next((a for a in args if isinstance(a, Module)), None)
        if model is not None:
            self.lightning_module = model
        if self.strategy.is_distributed and not os.environ.get("WORLD_SIZE"):
            from stager.train.launcher import spawn

            return spawn(self, method, *args)
        return getattr(self, method)(*args)

    def _check_model(self, model: Any, require_training_step: bool) -> None:
        if not isinstance(model, Module):
            raise UsageError(f"the model must be a stager.train.Module, got {type(model).__name__}")
        if require_training_step and type(model).training_step is Module.training_step:
            raise UsageError(f"{type(model).__name__} does not define training_step(batch, batch_idx)")

    # -- setup shared by every entry point -------------------------------------
    def _attach(self, model: Module | None, datamodule: DataModule | None) -> Module:
        if model is None:
            model = self.lightning_module
            if model is None:
                raise UsageError("no model given and none attached from an earlier fit")
        self._check_model(model, require_training_step=False)
        self.lightning_module = model
        self._hook_cache.clear()
        self._module_hook_cache.clear()
        model.trainer = self
        if datamodule is not None:
            self.datamodule = datamodule
            datamodule.trainer = self
        return model

    def _setup(self, stage: str) -> None:
        self.strategy.setup_environment()
        if self.deterministic:
            torch.use_deterministic_algorithms(True)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if self.benchmark is not None and torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = bool(self.benchmark)
        if self.deterministic and torch.backends.cudnn.is_available():
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        model = self.lightning_module
        if self.strategy.local_rank == 0:
            self._call_datamodule("prepare_data")
            self._call_module("prepare_data")
        self.strategy.barrier()
        self._call_datamodule("setup", stage)
        self._call_callbacks("setup", stage)
        self._call_module("setup", stage)
        for callback in model.configure_callbacks() or []:
            self.callbacks = [c for c in self.callbacks if type(c) is not type(callback)] + [callback]
            callback.setup(self, model, stage)
        self._hook_cache.clear()
        self._precision_plugin = make_precision(self.precision, self.strategy.root_device)
        model = self._precision_plugin.convert_module(model)
        if stage == "fit" and self.strategy.is_distributed:
            self.model = self.strategy.setup_module(loops.StepRouter(model))
        else:
            self.model = None
            model.to(self.strategy.root_device)

    def _teardown(self, stage: str, status: str) -> None:
        self.state.status = status
        model = self.lightning_module
        if self.is_global_zero:
            for logger in self.loggers:
                logger.finalize("success" if status == "finished" else status)
        self._call_callbacks("teardown", stage)
        if model is not None:
            self._call_module("teardown", stage)
        self._call_datamodule("teardown", stage)
        self.strategy.teardown(finished=status == "finished")
        self._checkpoint_writer.close()  # (already settled: this stops its thread)
        self._results = self._train_results = None
        self._batch = None

    def _loader(self, given: Any, hook: str) -> Any:
        if given is not None:
            return given
        for owner in (self.datamodule, self.lightning_module):
            if owner is None:
                continue
            method = getattr(type(owner), hook, None)
            base = getattr(DataModule if isinstance(owner, DataModule) else Module, hook, None)
            if method is not None and method is not base:
                return getattr(owner, hook)()
        return None

    def _prepare(self, loader: Any, shuffle_default: bool) -> Any:
        from stager.train.data_loading import prepare_loader

        return prepare_loader(
            loader,
            world_size=self.world_size,
            rank=self.global_rank,
            shuffle_default=shuffle_default,
            use_distributed_sampler=self.use_distributed_sampler,
        )

    def _as_list(self, loaders: Any) -> list:
        if loaders is None:
            return []
        return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]

    # -- fit ------------------------------------------------------------------
    def _run_fit(self, model, train_dataloaders, val_dataloaders, datamodule, ckpt_path):
        model = self._attach(model, datamodule)
        self.state.fn, self.state.status = "fit", "running"
        self.should_stop = False
        self._started_at = time.monotonic()
        with self._guard("fit"):
            self._setup("fit")
            self._fit_setup(train_dataloaders, val_dataloaders, ckpt_path)
            self._call_all("on_fit_start")
            loops.sanity_check(self)
            loops.fit_loop(self)
            self._settle_checkpoints()  # on_fit_end sees every checkpoint on disk and announced
            self._call_all("on_fit_end")
        self.state.stage = None

    @contextlib.contextmanager
    def _guard(self, stage: str):
        """Tear down (loggers finalised, process group closed) however ``stage`` ends."""
        try:
            yield
        except BaseException as exc:
            try:
                self._settle_checkpoints(quiet=True)
            finally:  # (a second Ctrl-C while waiting for the disk still tears down)
                self._call_callbacks("on_exception", exc)
                self._teardown(stage, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        self._teardown(stage, "finished")

    def _fit_setup(self, train_dataloaders, val_dataloaders, ckpt_path) -> None:
        model = self.lightning_module
        optimizers, configs = parse_optimizers(model.configure_optimizers())
        if not optimizers:
            raise UsageError(f"{type(model).__name__}.configure_optimizers returned no optimizer")
        self.optimizers, self.lr_scheduler_configs = optimizers, configs
        train = self._loader(train_dataloaders, "train_dataloader")
        if train is None:
            raise UsageError("no training data: pass train_dataloaders, or a datamodule with train_dataloader()")
        self.train_dataloader = self._prepare(train, shuffle_default=True)
        has_val_step = type(model).validation_step is not Module.validation_step
        val = self._loader(val_dataloaders, "val_dataloader") if has_val_step else None
        self.val_dataloaders = [self._prepare(v, shuffle_default=False) for v in self._as_list(val)]
        if self.device_type == "cuda":
            self._nonfinite_step = torch.full((), -1, dtype=torch.long, device=self.strategy.root_device)
        else:
            self._nonfinite_step = None
        if ckpt_path is not None:
            self._restore_training_state(self._resolve_ckpt_path(ckpt_path))
        if self.is_global_zero:
            hparams = dict(model.hparams)
            if self.datamodule is not None:
                hparams.update(self.datamodule.hparams or {})
            if hparams and getattr(model, "_log_hyperparams", True):
                for logger in self.loggers:
                    logger.log_hyperparams(hparams)
            if self.enable_model_summary and not self.fast_dev_run and self._print_epoch_lines:
                total = sum(p.numel() for p in model.parameters())
                trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
                print(f"{type(model).__name__}: {total:,} parameters ({trainable:,} trainable)", file=sys.stderr)

    @property
    def device_type(self) -> str:
        return self.strategy.root_device.type

    # -- validate / test / predict ------------------------------------------------
    def _run_eval(self, stage, model, dataloaders, ckpt_path, verbose, datamodule):
        model = self._attach(model, datamodule)
        step = "validation_step" if stage == "validate" else "test_step"
        if getattr(type(model), step) is getattr(Module, step):
            raise UsageError(f"{type(model).__name__} does not define {step}(batch, batch_idx)")
        self.state.fn, self.state.status = stage, "running"
        with self._guard(stage):
            self._setup(stage)
            if ckpt_path is not None:
                self._load_weights(self._resolve_ckpt_path(ckpt_path))
            hook = "val_dataloader" if stage == "validate" else "test_dataloader"
            loaders = [self._prepare(l, shuffle_default=False) for l in self._as_list(self._loader(dataloaders, hook))]
            if not loaders:
                raise UsageError(f"no {stage} data: pass dataloaders, or a datamodule with {hook}()")
            limit = self.limit_val_batches if stage == "validate" else self.limit_test_batches
            results = loops.evaluation_loop(self, stage, loaders, limit)
        if verbose and self.is_global_zero:
            loops.print_results(stage, results)
        return results

    def _run_predict(self, model, dataloaders, datamodule, ckpt_path):
        model = self._attach(model, datamodule)
        self.state.fn, self.state.status = "predict", "running"
        with self._guard("predict"):
            self._setup("predict")
            if ckpt_path is not None:
                self._load_weights(self._resolve_ckpt_path(ckpt_path))
            loaders = [self._prepare(l, shuffle_default=False) for l in self._as_list(self._loader(dataloaders, "predict_dataloader"))]
            if not loaders:
                raise UsageError("no predict data: pass dataloaders, or a datamodule with predict_dataloader()")
            outputs = loops.predict_loop(self, loaders)
        return outputs

    # -- spawned processes hand results back ----------------------------------------
    def _spawn_results(self, result: Any) -> dict[str, Any]:
        model = self.lightning_module
        return {
            "result": result,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()} if model is not None else None,
            "callback_metrics": {k: v.cpu() for k, v in self.callback_metrics.items()},
            "logged_metrics": self.logged_metrics,
            "global_step": self.global_step,
            "current_epoch": self.current_epoch,
            "checkpoint_states": [c.state_dict() for c in self.checkpoint_callbacks],
        }

    def _adopt_spawn_results(self, results: dict[str, Any]) -> Any:
        model = self.lightning_module
        if results["state_dict"] is not None and model is not None:
            model.load_state_dict(results["state_dict"])
        self.callback_metrics = results["callback_metrics"]
        self.logged_metrics = results["logged_metrics"]
        self.global_step = results["global_step"]
        self.current_epoch = results["current_epoch"]
        for callback, state in zip(self.checkpoint_callbacks, results["checkpoint_states"]):
            callback.load_state_dict(state)
        return results["result"]
