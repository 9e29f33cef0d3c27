"""Each kind of bad input to the trainer gives one clear UsageError (exit code 2)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import RegressionData, Regressor, regression_data
from torch.utils.data import DataLoader, TensorDataset

from stager.errors import UsageError
from stager.train import Module, Trainer


def _fit(model, loader=None, **kwargs):
    options = dict(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer = Trainer(**{**options, **kwargs})
    if loader is None:
        trainer.fit(model, datamodule=RegressionData())
    else:
        trainer.fit(model, loader)


def test_module_without_training_step():
    class NoStep(Module):
        def configure_optimizers(self):
            return None

    with pytest.raises(UsageError, match="NoStep does not define training_step") as caught:
        _fit(NoStep())
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "returned,message",
    [
        ("a string", "returned a str"),
        ({"optimizer": None}, "NoneType where an optimizer was expected"),
        ({"optimiser": 1}, "unknown keys"),
        ({"optimizer": "OPT", "lr_scheduler": {"interval": "step"}}, 'without "scheduler"'),
        ({"optimizer": "OPT", "lr_scheduler": {"scheduler": "SCHED", "interval": "hourly"}}, "interval 'hourly'"),
        (["OPT", "OPT"], "2 optimizers"),
    ],
)
def test_optimizer_config_of_the_wrong_shape(returned, message):
    class Bad(Regressor):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.StepLR(opt, 1)
            def fill(value):
                if value == "OPT":
                    return opt
                if value == "SCHED":
                    return sched
                if isinstance(value, dict):
                    return {k: fill(v) for k, v in value.items()}
                if isinstance(value, list):
                    return [fill(v) for v in value]
                return value
            return fill(returned)

    with pytest.raises(UsageError, match=message):
        _fit(Bad())


def test_dataloader_that_yields_nothing():
    empty = DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0, 1)), batch_size=4)
    with pytest.raises(UsageError, match="yields no batches|yielded no batches"):
        _fit(Regressor(), empty)


def test_bad_trainer_arguments():
    for kwargs, message in [
        (dict(precision="fp8"), "unknown precision"),
        (dict(accelerator="tpu"), "unknown accelerator"),
        (dict(accelerator="cuda"), "no CUDA device"),
        (dict(strategy="deepspeed"), "unknown strategy"),
        (dict(max_time="1 hour"), "max_time"),
        (dict(gradient_clip_algorithm="l3"), "gradient_clip_algorithm"),
        (dict(limit_train_batches=1.5), "fraction"),
    ]:
        with pytest.raises(UsageError, match=message):
            _fit(Regressor(), DataLoader(regression_data(8), batch_size=4), **kwargs)


def test_logging_a_non_scalar():
    class Wide(Regressor):
        def training_step(self, batch, batch_idx):
            self.log("vector", torch.ones(3))
            return super().training_step(batch, batch_idx)

    with pytest.raises(UsageError, match=r"shape \(3,\); log a scalar"):
        _fit(Wide())


def test_resuming_from_a_missing_or_corrupt_checkpoint(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        Trainer(accelerator="cpu", logger=False, enable_progress_bar=False).fit(Regressor(), datamodule=RegressionData(), ckpt_path=str(tmp_path / "nope.ckpt"))
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"\x80\x02not a checkpoint")
    with pytest.raises(UsageError, match="cannot be read"):
        Trainer(accelerator="cpu", logger=False, enable_progress_bar=False).fit(Regressor(), datamodule=RegressionData(), ckpt_path=str(broken))
