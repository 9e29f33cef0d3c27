"""Loggers the trainer writes metrics and hyper-parameters through.

``TensorBoardLogger`` imports without the ``tensorboard`` package; constructing
it without the package raises a ``UsageError`` naming the extra to install.
"""

from stager.train.loggers.base import Logger
from stager.train.loggers.csv_logs import CSVLogger
from stager.train.loggers.jsonl import JSONLinesLogger, follow, read_jsonl
from stager.train.loggers.tensorboard import TensorBoardLogger

__all__ = ["CSVLogger", "JSONLinesLogger", "Logger", "TensorBoardLogger", "follow", "read_jsonl"]
