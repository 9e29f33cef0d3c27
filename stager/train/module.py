"""``Module``: the model half of an experiment, with Lightning's names and meanings.

A subclass defines ``training_step`` and ``configure_optimizers`` (and usually
``validation_step``); the trainer owns the loops, devices, precision and
checkpoints.  Not supported: manual optimization (``automatic_optimization =
False``), multiple optimizers stepping in one ``training_step``, and
``self.log`` of non-scalar values.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from stager.train.hparams import AttributeDict, collect_init_args


class Module(nn.Module):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer = None
        self._hparams = AttributeDict()
        self._example_input_array: Any = None

    # -- what the trainer gives the module ---------------------------------
    @property
    def trainer(self):
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a Trainer")
        return self._trainer

    @trainer.setter
    def trainer(self, trainer) -> None:
        # Stored outside nn.Module's registry: a Trainer is not a submodule.
        object.__setattr__(self, "_trainer", trainer)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer else 0

    @property
    def global_rank(self) -> int:
        return self._trainer.global_rank if self._trainer else 0

    @property
    def local_rank(self) -> int:
        return self._trainer.local_rank if self._trainer else 0

    @property
    def logger(self):
        return self._trainer.logger if self._trainer else None

    @property
    def loggers(self):
        return self._trainer.loggers if self._trainer else []

    def optimizers(self):
        opts = self.trainer.optimizers
        return opts[0] if len(opts) == 1 else opts

    def lr_schedulers(self):
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        return configs[0].scheduler if len(configs) == 1 else [c.scheduler for c in configs]

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank zero only."""
        if self.global_rank == 0:
            print(*args, **kwargs)

    # -- hyper-parameters ---------------------------------------------------
    @property
    def hparams(self) -> AttributeDict:
        return self._hparams

    def save_hyperparameters(
        self, *args: Any, ignore: list[str] | str | None = None, frame: Any = None, logger: bool = True
    ) -> None:
        """Record the ``__init__`` arguments in ``self.hparams`` and in every checkpoint,
        so that ``load_from_checkpoint`` can rebuild the module."""
        frame = frame or inspect.currentframe().f_back
        self._hparams = collect_init_args(frame, args, ignore)
        self._log_hyperparams = logger

    @property
    def example_input_array(self) -> Any:
        """An input used by ``to_onnx`` / ``to_torchscript`` when none is given."""
        return self._example_input_array

    @example_input_array.setter
    def example_input_array(self, value: Any) -> None:
        self._example_input_array = value

    # -- logging ------------------------------------------------------------
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
        **_ignored: Any,
    ) -> None:
        """Log a scalar.  Defaults as Lightning's: per step in training, per epoch
        (a mean weighted by batch size) in validation and test.  The value stays a
        tensor on its device; it is read back only when a logger or the progress
        bar actually shows it, so logging every step costs no host-device sync."""
        trainer = self._trainer
        if trainer is None:
            return
        # This runs every step: positional arguments, and straight to the trainer's results
        # when there is nothing for Trainer._log to add (no error, no dataloader suffix).
        results = trainer._results
        if results is None or trainer._dataloader_suffix:
            trainer._log(name, value, prog_bar, logger, on_step, on_epoch, reduce_fx, sync_dist, batch_size)
        else:
            results.log(name, value, prog_bar, logger, on_step, on_epoch, reduce_fx, sync_dist, batch_size)

    def log_dict(self, dictionary: Mapping[str, Any], **kwargs: Any) -> None:
        for name, value in dictionary.items():
            self.log(name, value, **kwargs)

    # -- the steps the user writes -------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        raise NotImplementedError

    def test_step(self, batch: Any, batch_idx: int) -> Any:
        raise NotImplementedError

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        if isinstance(batch, (list, tuple)):
            return self(batch[0])
        return self(batch)

    def configure_optimizers(self) -> Any:
        raise NotImplementedError

    def configure_callbacks(self) -> list:
        return []

    # -- data hooks (a module may own its loaders, as in Lightning) ----------
    def prepare_data(self) -> None: ...
    def setup(self, stage: str) -> None: ...
    def teardown(self, stage: str) -> None: ...

    # -- hooks --------------------------------------------------------------
    def on_fit_start(self) -> None: ...
    def on_fit_end(self) -> None: ...
    def on_train_start(self) -> None: ...
    def on_train_end(self) -> None: ...
    def on_train_epoch_start(self) -> None: ...
    def on_train_epoch_end(self) -> None: ...
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any: ...
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_validation_start(self) -> None: ...
    def on_validation_end(self) -> None: ...
    def on_validation_epoch_start(self) -> None: ...
    def on_validation_epoch_end(self) -> None: ...
    def on_test_start(self) -> None: ...
    def on_test_end(self) -> None: ...
    def on_test_epoch_start(self) -> None: ...
    def on_test_epoch_end(self) -> None: ...
    def on_predict_start(self) -> None: ...
    def on_predict_end(self) -> None: ...
    def on_predict_epoch_start(self) -> None: ...
    def on_predict_epoch_end(self) -> None: ...
    def on_before_backward(self, loss: torch.Tensor) -> None: ...
    def on_after_backward(self) -> None: ...
    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None: ...
    def on_before_zero_grad(self, optimizer: torch.optim.Optimizer) -> None: ...
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    # -- checkpoints and export ---------------------------------------------
    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | Path,
        map_location: Any = None,
        strict: bool = True,
        **kwargs: Any,
    ) -> "Module":
        """Rebuild the module from a checkpoint's hyper-parameters (overridden by
        ``kwargs``) and load its weights.  The module is returned in eval mode."""
        from stager.train.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(checkpoint_path, map_location=map_location or "cpu")
        init_args = dict(checkpoint.get("hyper_parameters") or {})
        init_args.update(kwargs)
        model = cls(**init_args)
        model.on_load_checkpoint(checkpoint)
        model.load_state_dict(checkpoint["state_dict"], strict=strict)
        if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
            model.to(map_location)
        model.eval()
        return model

    def to_torchscript(self, file_path: str | Path | None = None, method: str = "script", example_inputs: Any = None, **kwargs: Any):
        from stager.train.export import to_torchscript

        return to_torchscript(self, file_path=file_path, method=method, example_inputs=example_inputs, **kwargs)

    def to_onnx(self, file_path: str | Path, input_sample: Any = None, **kwargs: Any) -> None:
        from stager.train.export import to_onnx

        return to_onnx(self, file_path, input_sample=input_sample, **kwargs)
