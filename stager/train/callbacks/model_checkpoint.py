"""``ModelCheckpoint``: keep the best k checkpoints by a monitored metric, and ``last.ckpt``.

Saves happen at the end of a training epoch (after validation and the epoch's
scheduler step, so resuming from it continues exactly), after a validation run
in the middle of an epoch, or every ``every_n_train_steps`` optimizer steps.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from stager.errors import UsageError
from stager.train.callbacks.base import Callback

_FIELD = re.compile(r"\{([^{}:]+)(:[^{}]*)?\}")


class ModelCheckpoint(Callback):
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"

    def __init__(
        self,
        dirpath: str | os.PathLike | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | None = None,
        save_top_k: int = 1,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise UsageError(f'ModelCheckpoint mode {mode!r}; use "min" or "max"')
        if save_top_k < -1:
            raise UsageError(f"ModelCheckpoint save_top_k={save_top_k}; use -1 (all), 0 (none) or a positive number")
        if monitor is None and save_top_k not in (-1, 0, 1):
            raise UsageError("ModelCheckpoint save_top_k > 1 needs a monitor metric to rank checkpoints by")
        self.dirpath = str(dirpath) if dirpath is not None else None
        self.filename = filename
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.auto_insert_metric_name = auto_insert_metric_name
        self.every_n_train_steps = every_n_train_steps or 0
        self.every_n_epochs = 1 if every_n_epochs is None and not self.every_n_train_steps else (every_n_epochs or 0)
        self.save_on_train_epoch_end = save_on_train_epoch_end
        self.best_k_models: dict[str, float] = {}
        self.kth_best_model_path = ""
        self.best_model_path = ""
        self.best_model_score: float | None = None
        self.last_model_path = ""
        self._last_global_step_saved = -1

    @property
    def state_key(self) -> str:
        return f"ModelCheckpoint{{'monitor': {self.monitor!r}, 'mode': {self.mode!r}}}"

    # -- where -------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.join(trainer.log_dir or trainer.default_root_dir, "checkpoints")

    def format_checkpoint_name(self, metrics: dict[str, float], epoch: int, step: int) -> str:
        template = self.filename or "{epoch}-{step}"
        values = dict(metrics, epoch=epoch, step=step)

        def render(match: re.Match) -> str:
            name, spec = match.group(1), match.group(2) or ""
            value = values.get(name, 0)
            text = format(value, spec[1:]) if spec else str(value)
            return f"{name}={text}" if self.auto_insert_metric_name else text

        name = _FIELD.sub(render, template).replace("/", "_")
        return os.path.join(self.dirpath, name + self.FILE_EXTENSION)

    # -- when --------------------------------------------------------------
    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.sanity_checking or not self.every_n_train_steps:
            return
        if trainer.global_step % self.every_n_train_steps or trainer.global_step == self._last_global_step_saved:
            return
        if trainer._step_completed_this_batch:
            self._save(trainer, pl_module)

    def _idle_in_train_batches(self, hook: str) -> bool:
        # on_train_batch_end saves only with every_n_train_steps (unless a subclass changed it)
        return (hook == "on_train_batch_end" and not self.every_n_train_steps
                and type(self).on_train_batch_end is ModelCheckpoint.on_train_batch_end)

    def on_validation_end(self, trainer, pl_module) -> None:
        # At the end of an epoch the save waits for on_train_epoch_end, where the
        # epoch's bookkeeping is complete; mid-epoch validation saves now.
        if trainer.sanity_checking or trainer.state.fn != "fit" or trainer._at_epoch_end or self.every_n_train_steps:
            return
        if self.save_on_train_epoch_end:
            return
        self._save(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.every_n_epochs or (trainer.current_epoch + 1) % self.every_n_epochs:
            if self.save_last and trainer.global_step != self._last_global_step_saved:
                self._save_last(trainer)
            return
        self._save(trainer, pl_module)

    # -- what --------------------------------------------------------------
    def _save(self, trainer, pl_module) -> None:
        if trainer.global_step == self._last_global_step_saved and not trainer._at_epoch_end:
            return
        metrics = trainer._callback_metrics_as_floats()
        if self.save_top_k != 0:
            self._save_top_k(trainer, metrics)
        if self.save_last:
            self._save_last(trainer)
        self._last_global_step_saved = trainer.global_step

    def _better(self, current: float, reference: float) -> bool:
        return current < reference if self.mode == "min" else current > reference

    def _save_top_k(self, trainer, metrics: dict[str, float]) -> None:
        path = self.format_checkpoint_name(metrics, trainer.current_epoch, trainer.global_step)
        if self.monitor is None:
            previous = self.best_model_path
            trainer.save_checkpoint(path, self.save_weights_only, background=True)
            self.best_model_path = path
            if previous and previous != path and self.save_top_k == 1:
                self._remove(trainer, previous)
            return
        if self.monitor not in metrics:
            raise UsageError(
                f"ModelCheckpoint(monitor={self.monitor!r}) found no such metric; logged: "
                f"{', '.join(sorted(metrics)) or 'none'}"
            )
        score = metrics[self.monitor]
        if math.isnan(score):
            score = math.inf if self.mode == "min" else -math.inf
        keep_all = self.save_top_k == -1
        if not keep_all and len(self.best_k_models) >= self.save_top_k:
            worst = self.kth_best_model_path
            if not self._better(score, self.best_k_models[worst]):
                return
        path = self._unique(path)
        trainer.save_checkpoint(path, self.save_weights_only, background=True)
        self.best_k_models[path] = score
        if not keep_all and len(self.best_k_models) > self.save_top_k:
            worst = self.kth_best_model_path
            del self.best_k_models[worst]
            self._remove(trainer, worst)
        ranked = sorted(self.best_k_models, key=self.best_k_models.get, reverse=self.mode == "max")
        self.best_model_path = ranked[0]
        self.best_model_score = self.best_k_models[ranked[0]]
        self.kth_best_model_path = ranked[-1]
        if self.verbose and trainer.is_global_zero:
            print(f"epoch {trainer.current_epoch}, step {trainer.global_step}: {self.monitor}={score:.5g} saved to {path}")

    def _unique(self, path: str) -> str:
        stem, ext = os.path.splitext(path)
        candidate, n = path, 1
        while candidate in self.best_k_models or (os.path.exists(candidate) and candidate != self.last_model_path):
            candidate = f"{stem}-v{n}{ext}"
            n += 1
        return candidate

    def _save_last(self, trainer) -> None:
        path = os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)
        trainer.save_checkpoint(path, self.save_weights_only, background=True)
        self.last_model_path = path

    def _remove(self, trainer, path: str) -> None:
        if path != self.last_model_path:
            trainer._remove_checkpoint(path)

    # -- resume ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "best_k_models": dict(self.best_k_models),
            "kth_best_model_path": self.kth_best_model_path,
            "last_model_path": self.last_model_path,
            "dirpath": self.dirpath,
            "last_global_step_saved": self._last_global_step_saved,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("dirpath") == self.dirpath or self.dirpath is None:
            self.best_model_score = state.get("best_model_score")
            self.best_model_path = state.get("best_model_path", "")
            self.best_k_models = {k: v for k, v in state.get("best_k_models", {}).items() if os.path.exists(k)}
            self.kth_best_model_path = state.get("kth_best_model_path", "")
            self.last_model_path = state.get("last_model_path", "")
        else:
            # A different folder: remember the best path for ckpt_path="best", rank anew.
            self.best_model_path = state.get("best_model_path", "")
        self._last_global_step_saved = state.get("last_global_step_saved", -1)
