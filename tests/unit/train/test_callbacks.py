"""ModelCheckpoint, EarlyStopping and LearningRateMonitor, and stopping on a NaN loss."""

from __future__ import annotations

import csv
import os

import pytest
import torch
from tiny_models import RegressionData, Regressor

from stager.train import CSVLogger, EarlyStopping, LearningRateMonitor, ModelCheckpoint, NonFiniteLossError, Trainer
from stager.train.checkpoint import load_checkpoint


def _trainer(tmp_path, **kwargs):
    defaults = dict(accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False, logger=False)
    defaults.update(kwargs)
    return Trainer(**defaults)


class ScriptedLoss(Regressor):
    """Logs a scripted val metric per epoch so top-k choices are known in advance."""

    def __init__(self, scores=(5.0, 3.0, 4.0, 1.0, 2.0), **kwargs):
        super().__init__(**kwargs)
        self.scores = list(scores)

    def validation_step(self, batch, batch_idx):
        self.log("score", self.scores[min(self.current_epoch, len(self.scores) - 1)])


def test_top_k_filename_template_and_last(tmp_path):
    callback = ModelCheckpoint(dirpath=str(tmp_path / "ck"), monitor="score", mode="min", save_top_k=2,
                               save_last=True, filename="{epoch}-{score:.1f}")
    trainer = _trainer(tmp_path, max_epochs=5, limit_train_batches=2, callbacks=[callback])
    trainer.fit(ScriptedLoss(), datamodule=RegressionData())
    assert sorted(os.listdir(tmp_path / "ck")) == ["epoch=3-score=1.0.ckpt", "epoch=4-score=2.0.ckpt", "last.ckpt"]
    assert callback.best_model_path.endswith("epoch=3-score=1.0.ckpt") and callback.best_model_score == 1.0
    assert load_checkpoint(tmp_path / "ck" / "last.ckpt")["epoch"] == 4
    # ckpt_path="best" finds it through the callback's state
    results = trainer.validate(ckpt_path="best", datamodule=RegressionData(), verbose=False)
    assert results[0]["score"] == 2.0  # the scripted value at current_epoch


def test_every_n_epochs_and_max_mode(tmp_path):
    callback = ModelCheckpoint(dirpath=str(tmp_path / "ck"), monitor="score", mode="max", every_n_epochs=2, save_top_k=1)
    _trainer(tmp_path, max_epochs=5, limit_train_batches=1, callbacks=[callback]).fit(ScriptedLoss(), datamodule=RegressionData())
    # epochs 1 and 3 are checked (score 3.0 then 1.0): the max stays 3.0
    assert os.listdir(tmp_path / "ck") == ["epoch=1-step=2.ckpt"]


def test_early_stopping_patience_and_thresholds(tmp_path):
    stop = EarlyStopping(monitor="score", patience=1, mode="min")
    trainer = _trainer(tmp_path, max_epochs=10, limit_train_batches=1, enable_checkpointing=False, callbacks=[stop])
    trainer.fit(ScriptedLoss(scores=(5, 4, 4.5, 4.2, 1)), datamodule=RegressionData())
    assert trainer.current_epoch == 3 and stop.stopped_epoch == 2 and "did not improve" in stop.stopping_reason

    stop = EarlyStopping(monitor="score", stopping_threshold=3.5, mode="min")
    trainer = _trainer(tmp_path, max_epochs=10, limit_train_batches=1, enable_checkpointing=False, callbacks=[stop])
    trainer.fit(ScriptedLoss(scores=(5, 3, 1)), datamodule=RegressionData())
    assert stop.stopped_epoch == 1 and "stopping threshold" in stop.stopping_reason

    stop = EarlyStopping(monitor="score", divergence_threshold=10, mode="min")
    trainer = _trainer(tmp_path, max_epochs=10, limit_train_batches=1, enable_checkpointing=False, callbacks=[stop])
    trainer.fit(ScriptedLoss(scores=(5, 11)), datamodule=RegressionData())
    assert stop.stopped_epoch == 1 and "divergence" in stop.stopping_reason

    stop = EarlyStopping(monitor="score", mode="min")
    trainer = _trainer(tmp_path, max_epochs=10, limit_train_batches=1, enable_checkpointing=False, callbacks=[stop])
    trainer.fit(ScriptedLoss(scores=(5, float("nan"))), datamodule=RegressionData())
    assert stop.stopped_epoch == 1 and "not finite" in stop.stopping_reason


def test_monitoring_a_metric_that_was_never_logged_is_a_clear_error(tmp_path):
    from stager.errors import UsageError

    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=1, enable_checkpointing=False, callbacks=[EarlyStopping(monitor="val_acc")])
    with pytest.raises(UsageError, match="val_acc.*logged: .*val_loss"):
        trainer.fit(Regressor(), datamodule=RegressionData())


def test_learning_rate_monitor_logs_each_epoch(tmp_path):
    logger = CSVLogger(str(tmp_path))
    trainer = _trainer(tmp_path, max_epochs=3, limit_train_batches=2, logger=logger, callbacks=[LearningRateMonitor()])
    trainer.fit(Regressor(lr=0.1), datamodule=RegressionData())
    rows = [r for r in csv.DictReader(open(f"{logger.log_dir}/metrics.csv")) if r.get("lr-SGD")]
    assert [float(r["lr-SGD"]) for r in rows] == pytest.approx([0.1, 0.09, 0.081])


class BecomesNaN(Regressor):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.global_step >= 20 else loss


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    callback = ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_last=True)
    trainer = _trainer(tmp_path, max_epochs=5, callbacks=[callback])
    with pytest.raises(NonFiniteLossError, match="at step 20.*last.ckpt") as caught:
        trainer.fit(BecomesNaN(), datamodule=RegressionData())
    assert caught.value.step == 20 and caught.value.exit_code == 1
    saved = load_checkpoint(tmp_path / "ck" / "last.ckpt")
    assert saved["global_step"] == 16  # end of the first epoch, before the loss went bad
    assert all(torch.isfinite(t).all() for t in saved["state_dict"].values())
    assert trainer.state.status == "failed"
