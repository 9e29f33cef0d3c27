"""Callbacks that ship with the trainer."""

from stager.train.callbacks.base import Callback
from stager.train.callbacks.early_stopping import EarlyStopping
from stager.train.callbacks.lr_monitor import LearningRateMonitor
from stager.train.callbacks.model_checkpoint import ModelCheckpoint
from stager.train.callbacks.progress import ProgressBar, TQDMProgressBar

__all__ = ["Callback", "EarlyStopping", "LearningRateMonitor", "ModelCheckpoint", "ProgressBar", "TQDMProgressBar"]
