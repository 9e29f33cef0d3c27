"""What every page needs to know about where things are: the ledger, the runs folder, stager's home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Site"]


@dataclass(frozen=True)
class Site:
    ledger: Path  # the ledger file; it may not exist yet
    runs_dir: Path  # where `stager run` put each run's folder (metrics, logs)
    home: Path  # $STAGER_HOME: the dataset manifests the diff names files from
