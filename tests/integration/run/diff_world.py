"""Helpers of the `stager runs diff` tests: pipelines that differ in one thing, a dataset that differs in one file."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from run_world import RunWorld, run_json

__all__ = ["CHANGED_FILE", "changed_copy", "run_once"]

CHANGED_FILE = "t10k-labels-idx1-ubyte"  # the test split's labels: one label moves to another digit
_IDX1_HEADER = 8  # magic number and length, then one byte per label


def changed_copy(data: Path, folder: Path) -> Path:
    """A copy of the MNIST dataset ``data`` in ``folder`` with one test label changed (still within 0..9)."""
    shutil.copytree(data, folder)
    labels = folder / CHANGED_FILE
    content = bytearray(labels.read_bytes())
    content[_IDX1_HEADER] = (content[_IDX1_HEADER] + 1) % 10
    labels.write_bytes(bytes(content))
    return folder


def run_once(world: RunWorld, folder: Path, *, hidden: int = 32, data: Path | None = None,
             log_every_n_steps: int | None = None) -> str:
    """One small real run in ``folder`` (its own runs folder), the model ``hidden`` wide, on ``data``; its id."""
    folder.mkdir(parents=True, exist_ok=True)
    path = world.pipeline(folder, epochs=1, batches=5)
    doc = yaml.safe_load(path.read_text())
    doc["train"]["model"]["init_args"]["hidden"] = hidden
    if log_every_n_steps is not None:
        doc["train"]["trainer"]["log_every_n_steps"] = log_every_n_steps
    if data is not None:
        doc["data"]["mnist"]["path"] = str(data)
        doc["train"]["data"]["init_args"]["data_dir"] = str(data)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = world.run(folder, str(path))
    assert done.returncode == 0, done.stderr[-3000:]
    return run_json(folder)["run_id"]
