"""The emulator's state on disk: one JSON document, replaced atomically.

Instances, images, volumes, keys, events and billing survive between stager
invocations, so an image built today is reused tomorrow and an instance leaked
by a killed process is still there for ``stager gc`` to find.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def load_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
