"""The built-in examples learn their synthetic data with the real Trainer on CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import yaml

from stager.errors import UsageError
from stager.examples import formats, synthetic
from stager.examples.cifar import CIFAR10DataModule, ResNet
from stager.examples.mnist import MLP, MNISTDataModule

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _seeded(monkeypatch):
    # seed_everything writes these into os.environ; monkeypatch puts them back afterwards.
    monkeypatch.setenv("STAGER_GLOBAL_SEED", "0")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("STAGER_SEED_WORKERS", "0")
    from stager.train import seed_everything

    # Models are built before the trainer seeds: without this, their initial weights would
    # depend on whatever the worker process ran before (the test order varies).
    seed_everything(0)


def _trainer(tmp_path: Path, **overrides):
    from stager.train import Trainer

    kwargs = dict(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path / "runs"),
        deterministic=True,
    )
    kwargs.update(overrides)
    return Trainer(**kwargs)


def _val_loss_before_and_after(tmp_path: Path, model, datamodule, **trainer_kwargs) -> tuple[dict, dict]:
    from stager.train import seed_everything

    seed_everything(0)
    trainer = _trainer(tmp_path, **trainer_kwargs)
    before = {k: float(v) for k, v in trainer.validate(model, datamodule=datamodule)[0].items()}
    trainer.fit(model, datamodule=datamodule)
    after = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return before, after


def test_mlp_learns_synthetic_mnist(tmp_path, caplog):
    data_dir = tmp_path / "mnist"
    datamodule = MNISTDataModule(data_dir=str(data_dir), batch_size=64, seed=0)
    with caplog.at_level(logging.WARNING, logger="stager.examples.mnist"):
        datamodule.prepare_data()  # generates: the folder is empty
    assert [r.getMessage() for r in caplog.records if "SYNTHETIC" in r.getMessage()], caplog.text
    assert formats.find_mnist_file(data_dir, "t10k-labels-idx1-ubyte") is not None

    model = MLP(hidden=64, lr=2e-3)
    before, after = _val_loss_before_and_after(tmp_path, model, datamodule, max_epochs=2, limit_train_batches=40)
    assert before["val_loss"] > 2.0  # an untrained 10-way classifier: about ln(10)
    assert after["val_loss"] < 0.5 * before["val_loss"]
    assert after["val_acc"] > 0.8  # chance is 0.1
    assert "train_loss" in after

    tested = _trainer(tmp_path).test(model, datamodule=datamodule)[0]
    assert tested["test_acc"] > 0.8
    assert model.hparams.hidden == 64 and model.example_input_array.shape == (1, 1, 28, 28)


def test_resnet_learns_synthetic_cifar(tmp_path):
    # 800 training images (five batches of 200, less a fifth for validation)
    # keep this to seconds on two idle cores.
    synthetic.write_cifar10(tmp_path / "cifar", n_per_batch=200, n_test=50, seed=0)
    datamodule = CIFAR10DataModule(data_dir=str(tmp_path / "cifar"), batch_size=32, val_fraction=0.2, seed=0)
    model = ResNet(width=8, lr=3e-3, lr_gamma=0.8)  # also exercises the {optimizer, lr_scheduler} form
    before, after = _val_loss_before_and_after(tmp_path, model, datamodule, max_epochs=3)
    assert before["val_loss"] > 2.0
    assert after["val_loss"] < 0.7 * before["val_loss"]
    assert after["val_acc"] > 0.5  # chance is 0.1
    assert model.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(3e-3 * 0.8**3)


def test_datamodule_refuses_partial_or_absent_data(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=20, n_test=10)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(UsageError, match="incomplete MNIST data, missing t10k-images-idx3-ubyte"):
        MNISTDataModule(data_dir=str(tmp_path)).prepare_data()
    with pytest.raises(UsageError, match="no CIFAR-10 data .* generate is off"):
        CIFAR10DataModule(data_dir=str(tmp_path / "none"), generate=False).prepare_data()


def test_val_fraction_zero_validates_on_the_test_split(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=40, n_test=30)
    datamodule = MNISTDataModule(data_dir=str(tmp_path), val_fraction=0.0)
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 40 and len(datamodule.val_set) == 30
    x, y = next(iter(datamodule.val_dataloader()))
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and y.dtype == torch.int64


def _resolve(class_path: str):
    import importlib

    module, _, attr = class_path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("name", ["mnist", "cifar"])
def test_pipeline_configs_build(name):
    """The shipped configs are LightningCLI-shaped and their classes build from init_args."""
    config = yaml.safe_load((REPO / "pipelines" / "train" / f"{name}.yaml").read_text())
    assert set(config) == {"seed_everything", "trainer", "model", "data"}
    for section in ("model", "data"):
        _resolve(config[section]["class_path"])(**config[section].get("init_args", {}))
    for callback in config["trainer"].get("callbacks", []):
        _resolve(callback["class_path"])(**callback.get("init_args", {}))
