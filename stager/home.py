"""Where stager keeps its state on the controller: ``$STAGER_HOME``, else ``./.stager``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["stager_home"]


def stager_home() -> Path:
    return Path(os.environ.get("STAGER_HOME") or ".stager")
