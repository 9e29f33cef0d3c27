"""The trainer's checkpoint side: what a checkpoint holds, writing it, resuming from it.

Kept apart from ``trainer.py`` so the loop's owner and the checkpoint format can be
read separately.  A checkpoint's keys follow Lightning's where the meaning is the
same (``state_dict``, ``optimizer_states``, ``lr_schedulers``, ``callbacks``,
``hyper_parameters``, ``epoch``, ``global_step``), plus ``loops`` (the exact loop
position, for resuming mid-epoch), ``rng_states``, ``precision_plugin``,
``stager_version``, ``torch_version`` and ``config`` (the resolved config).
Under DDP the RNG states are rank zero's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

import stager
from stager.errors import UsageError
from stager.train.checkpoint import load_checkpoint
from stager.train.checkpoint_writer import SavedCheckpoint
from stager.train.errors import NonFiniteLossError
from stager.train.seed import capture_rng_states, restore_rng_states


class CheckpointMixin:
    def _check_finite(self) -> None:
        """Raise if a loss went NaN/Inf since the last check (reads one device flag)."""
        flag = self._nonfinite_step
        if isinstance(flag, torch.Tensor):
            step = int(flag.item())
            if step >= 0:
                raise NonFiniteLossError(step, self._last_good_checkpoint())
        elif isinstance(flag, int):
            raise NonFiniteLossError(flag, self._last_good_checkpoint())

    def _last_good_checkpoint(self) -> str | None:
        self._settle_checkpoints(quiet=True)  # a checkpoint still being made durable counts once it is
        for callback in self.checkpoint_callbacks:
            if callback.last_model_path and Path(callback.last_model_path).exists():
                return callback.last_model_path
            if callback.best_model_path and Path(callback.best_model_path).exists():
                return callback.best_model_path
        return None

    def dump_checkpoint(self, weights_only: bool = False) -> dict[str, Any]:
        """The self-describing checkpoint dict (collective under FSDP: call on every rank)."""
        model = self.lightning_module
        checkpoint: dict[str, Any] = {
            "stager_version": stager.__version__,
            "torch_version": torch.__version__,
            "epoch": self.current_epoch,
            "global_step": self.global_step,
            # the user's module, not its DDP/FSDP wrapper: keys load into a plain model
            "state_dict": self.strategy.model_state_dict(model),
            "hyper_parameters": dict(model.hparams),
            "hparams_name": "kwargs",
            "precision": self.precision,
            "config": self.resolved_config,
        }
        if self.datamodule is not None:
            checkpoint["datamodule_hyper_parameters"] = dict(self.datamodule.hparams or {})
        if not weights_only:
            rng_states = capture_rng_states()
            epoch_start = self._loop_position.get("epoch_start_rng") or {}
            if rng_states["python"] == epoch_start.get("python"):
                # Python's generator is untouched since the epoch began (the usual case): hold
                # the same immutable tuple in both places, which torch.save pickles once
                # (625 fewer ints through its pickler, whose per-object cost is high).
                rng_states["python"] = epoch_start["python"]
            checkpoint.update(
                optimizer_states=[self.strategy.optimizer_state_dict(model, o) for o in self.optimizers],
                lr_schedulers=[c.scheduler.state_dict() for c in self.lr_scheduler_configs],
                precision_plugin=self._precision_plugin.state_dict() if self._precision_plugin else {},
                callbacks={c.state_key: c.state_dict() for c in self.callbacks},
                loops=dict(self._loop_position),
                rng_states=rng_states,
            )
            if self.datamodule is not None:
                checkpoint[type(self.datamodule).__qualname__] = self.datamodule.state_dict()
            self._call_callbacks("on_save_checkpoint", checkpoint)
        model.on_save_checkpoint(checkpoint)
        return checkpoint

    def save_checkpoint(self, filepath: str | os.PathLike, weights_only: bool = False, *,
                        background: bool = False) -> None:
        """Write a checkpoint atomically on rank zero, then tell callbacks and loggers.

        With ``background`` (what ``ModelCheckpoint`` uses) this returns once ``torch.save``
        has serialised the checkpoint; the rest of the write, the fsync and the rename finish
        on a background thread, and callbacks hear of it at a later batch boundary or at the
        end of the stage (``checkpoint_writer.py``).

        Raises:
            NonFiniteLossError: the loss went NaN/Inf since the last check; the
                earlier checkpoint is kept instead of being replaced by a bad one.
        """
        self._check_finite()
        if not self.is_global_zero and self.strategy.name != "fsdp":
            return
        checkpoint = self.dump_checkpoint(weights_only)
        if not self.is_global_zero:
            return
        saved = SavedCheckpoint(os.fspath(filepath), checkpoint["epoch"], checkpoint["global_step"])
        self._checkpoint_writer.save(checkpoint, saved, background, announce=self._announce_checkpoint)

    def _remove_checkpoint(self, filepath: str) -> None:
        """Delete a checkpoint on rank zero, after every save asked for before is durable."""
        if self.is_global_zero:
            self._checkpoint_writer.delete(filepath)

    def _announce_checkpoints(self) -> None:
        self._checkpoint_writer.announce_durable(self._announce_checkpoint)

    def _announce_checkpoint(self, path: SavedCheckpoint) -> None:
        for logger in self.loggers:
            logger.after_save_checkpoint(path)
        self._call_callbacks("on_checkpoint_saved", path)

    def _settle_checkpoints(self, quiet: bool = False) -> None:
        """Wait until every checkpoint asked for is durable, and announce them.

        ``quiet``: on the way out of a failure, report a failed write on stderr instead
        of raising it over the failure already under way.
        """
        try:
            self._checkpoint_writer.wait()
        except Exception as exc:
            if not quiet:
                raise
            print(f"stager: a checkpoint could not be written: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            self._announce_checkpoints()

    def _resolve_ckpt_path(self, ckpt_path: str) -> str:
        if ckpt_path not in ("last", "best"):
            return str(ckpt_path)
        callbacks = self.checkpoint_callbacks
        for callback in callbacks:
            if callback.dirpath is None:
                callback.setup(self, self.lightning_module, "fit")
        if ckpt_path == "last":
            candidates = [c.last_model_path for c in callbacks if c.last_model_path]
            candidates += [os.path.join(c.dirpath, "last.ckpt") for c in callbacks]
            candidates += [str(p) for p in Path(self.default_root_dir).glob("**/checkpoints/last.ckpt")]
            existing = [p for p in candidates if p and os.path.isfile(p)]
            if not existing:
                raise UsageError('ckpt_path="last" but no last.ckpt was found; enable ModelCheckpoint(save_last=True)')
            return max(existing, key=os.path.getmtime)
        best = next((c.best_model_path for c in callbacks if c.best_model_path), None)
        if best is None:
            last = next((os.path.join(c.dirpath, "last.ckpt") for c in callbacks if os.path.isfile(os.path.join(c.dirpath, "last.ckpt"))), None)
            if last is not None:
                states = load_checkpoint(last).get("callbacks", {})
                best = next((s.get("best_model_path") for s in states.values() if s.get("best_model_path")), None)
        if not best or not os.path.isfile(best):
            raise UsageError('ckpt_path="best" but no best checkpoint is known; train with a monitored ModelCheckpoint first')
        return best

    def _load_weights(self, path: str) -> dict[str, Any]:
        checkpoint = load_checkpoint(path, map_location="cpu")
        model = self.lightning_module
        model.on_load_checkpoint(checkpoint)
        model.load_state_dict(checkpoint["state_dict"])
        return checkpoint

    def _restore_training_state(self, path: str) -> None:
        checkpoint = load_checkpoint(path, map_location="cpu")
        model = self.lightning_module
        self._call_callbacks("on_load_checkpoint", checkpoint)
        model.on_load_checkpoint(checkpoint)
        self.strategy.load_model_state_dict(model, checkpoint["state_dict"])
        if "optimizer_states" not in checkpoint:
            raise UsageError(f"checkpoint {path} holds weights only; it cannot resume training (load it with load_from_checkpoint)")
        for optimizer, state in zip(self.optimizers, checkpoint["optimizer_states"]):
            self.strategy.load_optimizer_state_dict(model, optimizer, state)
        for config, state in zip(self.lr_scheduler_configs, checkpoint.get("lr_schedulers", [])):
            config.scheduler.load_state_dict(state)
        self._precision_plugin.load_state_dict(checkpoint.get("precision_plugin", {}))
        states = checkpoint.get("callbacks", {})
        for callback in self.callbacks:
            if callback.state_key in states:
                callback.load_state_dict(states[callback.state_key])
        if self.datamodule is not None and type(self.datamodule).__qualname__ in checkpoint:
            self.datamodule.load_state_dict(checkpoint[type(self.datamodule).__qualname__])
        self.global_step = checkpoint["global_step"]
        self.current_epoch = checkpoint["epoch"]
        self._resume_from = {"loops": checkpoint.get("loops") or {"epoch_finished": True, "batches_done": 0}, "rng_states": checkpoint.get("rng_states")}

    def _restore_rng_for_resume(self) -> None:
        """Called by the loop after the sanity check, just before the first resumed epoch."""
        if self._resume_from and self._resume_from.get("rng_states"):
            restore_rng_states(self._resume_from["rng_states"])
