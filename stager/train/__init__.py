"""stager's built-in trainer: Lightning's organising idea on plain PyTorch.

``from stager.train import Module, DataModule, Trainer, seed_everything``.  It
depends only on torch, numpy and pyyaml, so it runs the same on a laptop and on
a GPU instance booted from a gold image.
"""

from stager.train.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    ProgressBar,
    TQDMProgressBar,
)
from stager.train.datamodule import DataModule
from stager.train.errors import NonFiniteLossError
from stager.train.loggers import CSVLogger, JSONLinesLogger, Logger, TensorBoardLogger
from stager.train.module import Module
from stager.train.seed import seed_everything
from stager.train.trainer import Trainer

# Lightning's names, so existing code ports by changing the import.
LightningModule = Module
LightningDataModule = DataModule

__all__ = [
    "Callback",
    "CSVLogger",
    "DataModule",
    "EarlyStopping",
    "JSONLinesLogger",
    "LearningRateMonitor",
    "LightningDataModule",
    "LightningModule",
    "Logger",
    "ModelCheckpoint",
    "Module",
    "NonFiniteLossError",
    "ProgressBar",
    "TensorBoardLogger",
    "TQDMProgressBar",
    "Trainer",
    "seed_everything",
]
