"""The training loop's semantics: steps, limits, logging, schedulers, hooks."""

from __future__ import annotations

import csv

import pytest
import torch
from tiny_models import RegressionData, Regressor, regression_data, weights
from torch.utils.data import DataLoader

from stager.train import Callback, Trainer, seed_everything


def _trainer(tmp_path, **kwargs):
    defaults = dict(accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False, logger=False, enable_checkpointing=False)
    defaults.update(kwargs)
    return Trainer(**defaults)


def test_training_lowers_the_validation_loss(tmp_path):
    seed_everything(0)
    model, data = Regressor(scheduler="none"), RegressionData()
    trainer = _trainer(tmp_path, max_epochs=3)
    before = trainer.validate(model, datamodule=data, verbose=False)[0]["val_loss"]
    trainer.fit(model, datamodule=data)
    after = trainer.validate(model, datamodule=data, verbose=False)[0]["val_loss"]
    assert after < before / 5
    assert trainer.current_epoch == 3 and trainer.global_step == 3 * 16


def test_max_steps_limits_and_val_check_interval(tmp_path):
    class Count(Callback):
        validations = 0

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                Count.validations += 1

    trainer = _trainer(tmp_path, max_steps=10, limit_train_batches=4, val_check_interval=2, num_sanity_val_steps=0, callbacks=[Count()])
    trainer.fit(Regressor(), datamodule=RegressionData())
    assert trainer.global_step == 10
    assert trainer.current_epoch == 3  # epochs of 4 batches: 4 + 4 + 2
    # every 2 batches mid-epoch plus at each full epoch's end: 2 + 2 + 1
    assert Count.validations == 5


def test_fast_dev_run_runs_one_batch_and_writes_nothing(tmp_path):
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", default_root_dir=str(tmp_path), enable_progress_bar=False)
    trainer.fit(Regressor(), datamodule=RegressionData())
    assert trainer.global_step == 1
    assert list(tmp_path.iterdir()) == []


def test_accumulating_two_batches_equals_one_double_batch(tmp_path):
    def train(batch_size, accumulate):
        seed_everything(3)
        model = Regressor(dropout=0.0, scheduler="none")
        loader = DataLoader(regression_data(64), batch_size=batch_size)
        _trainer(tmp_path, max_epochs=1, accumulate_grad_batches=accumulate).fit(model, loader)
        return weights(model)

    single, accumulated = train(16, 1), train(8, 2)
    for name in single:
        torch.testing.assert_close(single[name], accumulated[name], rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_norm(tmp_path):
    norms = []

    class Watch(Callback):
        def on_before_zero_grad(self, trainer, pl_module, optimizer):
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    trainer = _trainer(tmp_path, max_steps=5, gradient_clip_val=0.01, callbacks=[Watch()])
    trainer.fit(Regressor(lr=1e-4), datamodule=RegressionData())
    assert len(norms) == 5 and max(norms) <= 0.01 + 1e-6


def test_logging_semantics_and_weighted_epoch_mean(tmp_path):
    class Logs(Regressor):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.log("both", float(batch_idx), on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            x, _ = batch
            self.log("val_size", float(x.shape[0]))  # mean weighted by batch size

    from stager.train import CSVLogger

    logger = CSVLogger(str(tmp_path))
    trainer = _trainer(tmp_path, max_epochs=1, logger=logger, log_every_n_steps=4, limit_train_batches=8, num_sanity_val_steps=0)
    data = RegressionData()
    data.val_set = None
    model = Logs()
    data.setup("fit")
    val = DataLoader(regression_data(40, seed=1), batch_size=32)  # batches of 32 and 8
    trainer.fit(model, DataLoader(data.train_set, batch_size=16), val)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert metrics["both_epoch"] == pytest.approx(3.5)  # mean of 0..7
    assert metrics["both_step"] == 7.0
    assert metrics["val_size"] == pytest.approx((32 * 32 + 8 * 8) / 40)
    rows = list(csv.DictReader(open(f"{logger.log_dir}/metrics.csv")))
    assert [r["step"] for r in rows if r.get("both_step")] == ["4", "8"]
    assert any(r.get("both_epoch") for r in rows) and any(r.get("val_size") for r in rows)


@pytest.mark.parametrize("form", ["optimizer", "list", "two_lists", "dict", "dict_step", "plateau"])
def test_every_configure_optimizers_form(tmp_path, form):
    class Forms(Regressor):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            step = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            return {
                "optimizer": opt,
                "list": [opt],
                "two_lists": ([opt], [step]),
                "dict": {"optimizer": opt, "lr_scheduler": step},
                "dict_step": {"optimizer": opt, "lr_scheduler": {"scheduler": step, "interval": "step", "frequency": 2}},
                "plateau": {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5), "monitor": "val_loss"}},
            }[form]

    trainer = _trainer(tmp_path, max_epochs=2, limit_train_batches=4)
    trainer.fit(Forms(), datamodule=RegressionData())
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    expected = {"optimizer": 0.1, "list": 0.1, "two_lists": 0.025, "dict": 0.025, "dict_step": 0.1 * 0.5**4}
    if form == "plateau":
        assert lr <= 0.1  # stepped with the monitored val_loss, no error
    else:
        assert lr == pytest.approx(expected[form])


_HOOKS = ["on_fit_start", "on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_before_backward",
          "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad", "on_train_batch_end",
          "on_validation_epoch_end", "on_train_epoch_end", "on_train_end", "on_fit_end"]


def test_hooks_run_in_lightnings_order(tmp_path):
    calls = []

    def recorder(name):
        def hook(self, *args):
            calls.append(name)
        return hook

    Hooked = type("Hooked", (Regressor,), {name: recorder(name) for name in _HOOKS})
    _trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0).fit(Hooked(), datamodule=RegressionData())
    first_seen = sorted(set(calls), key=calls.index)
    assert first_seen == _HOOKS
    assert calls.count("on_before_optimizer_step") == 2 and calls.count("on_train_epoch_end") == 1


def test_max_time_stops_training(tmp_path):
    trainer = _trainer(tmp_path, max_time={"seconds": 0})
    trainer.fit(Regressor(), datamodule=RegressionData())
    assert trainer.global_step == 1  # checked after each batch


def test_predict_and_test_return_outputs(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1)
    model, data = Regressor(), RegressionData()
    trainer.fit(model, datamodule=data)
    results = trainer.test(model, datamodule=data, verbose=False)
    assert set(results[0]) == {"test_loss"}
    predictions = trainer.predict(model, dataloaders=DataLoader(regression_data(10), batch_size=4))
    assert [p.shape[0] for p in predictions] == [4, 4, 2]


@pytest.mark.parametrize("precision,dtype", [("64-true", torch.float64), ("bf16-true", torch.bfloat16), ("bf16-mixed", torch.float32), ("16-mixed", torch.float32)])
def test_precisions_train_on_cpu(tmp_path, precision, dtype):
    seed_everything(0)
    model = Regressor(dropout=0.0, scheduler="none", lr=0.01)
    trainer = _trainer(tmp_path, max_epochs=2, precision=precision)
    trainer.fit(model, datamodule=RegressionData())
    assert next(model.parameters()).dtype == dtype
    assert torch.isfinite(trainer.callback_metrics["val_loss"]) and float(trainer.callback_metrics["val_loss"]) < 30
    if precision == "16-mixed":
        assert trainer._precision_plugin.scaler is not None


def test_overridden_per_batch_hooks_of_builtin_callbacks_still_run(tmp_path):
    """The loop skips the per-batch hooks of a progress bar that is off and of a
    ModelCheckpoint without every_n_train_steps; a subclass that overrides them is called."""
    from stager.train import ModelCheckpoint
    from stager.train.callbacks.progress import TQDMProgressBar

    calls = []

    class Bar(TQDMProgressBar):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            calls.append(("bar", batch_idx))

    class Checkpoint(ModelCheckpoint):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            calls.append(("checkpoint", batch_idx))

    trainer = _trainer(tmp_path, max_epochs=2, limit_train_batches=3, enable_progress_bar=None, enable_checkpointing=None,
                       callbacks=[Bar(), Checkpoint(dirpath=str(tmp_path / "ckpt"))], num_sanity_val_steps=0)
    trainer.fit(Regressor(), datamodule=RegressionData())
    assert not trainer.progress_bar_callback.is_enabled  # pytest's stderr is not a terminal
    assert calls == [(who, i) for _ in range(2) for i in range(3) for who in ("bar", "checkpoint")]


def test_checkpoint_every_n_train_steps_still_saves_mid_epoch(tmp_path):
    from stager.train import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=3, save_top_k=-1)
    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=8, enable_checkpointing=None, callbacks=[checkpoint],
                       num_sanity_val_steps=0)
    trainer.fit(Regressor(), datamodule=RegressionData())
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch=0-step=3.ckpt", "epoch=0-step=6.ckpt"]


def test_to_device_copies_lists_and_moves_what_is_elsewhere():
    from collections import namedtuple

    from stager.train.loops import to_device

    cpu = torch.device("cpu")
    x, y = torch.zeros(2), torch.ones(2)
    batch = [x, y]
    moved = to_device(batch, cpu)
    assert moved == batch and moved is not batch and moved[0] is x  # a new list, the same tensors
    assert to_device((x, y), cpu) == (x, y)
    Pair = namedtuple("Pair", "a b")
    pair = to_device(Pair(x, [y]), cpu)
    assert type(pair) is Pair and pair.a is x and pair.b[0] is y
    assert to_device({"x": x, "n": 3}, cpu) == {"x": x, "n": 3}
    parameter = torch.nn.Parameter(torch.zeros(1))  # not a plain Tensor: the general path
    mixed = to_device([x, parameter, "tag"], cpu)
    assert mixed == [x, parameter, "tag"] and mixed[1] is parameter


def test_logged_values_keep_no_graph_past_their_step_and_are_read_detached(tmp_path):
    seen = []

    class Aux(Regressor):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)  # logs train_loss: the loss itself
            self.log("aux", self(batch[0]).pow(2).mean())  # a graph that no backward frees
            return loss

    class Look(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            metrics = trainer._train_results.metrics
            if "aux" in metrics:
                seen.append(metrics["aux"].step_value.requires_grad)

    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=4, log_every_n_steps=2, callbacks=[Look()],
                       num_sanity_val_steps=0)
    trainer.fit(Aux(), datamodule=RegressionData())
    assert seen == [False, False, False]
    assert {"train_loss", "aux"} <= set(trainer.callback_metrics)
    assert not any(v.requires_grad for v in trainer.callback_metrics.values())
