"""CIFAR-10 python batches (``data_batch_*``, ``test_batch``) as sources.

Each batch is unpickled with ``stager.examples.formats.restricted_load``, which
resolves only numpy's array globals, so a hostile pickle cannot run code.  A
batch is about 30 MB and is read whole.  Unlike the examples' reader, labels
are not range-checked here: a label outside 0..9 is the ``labels`` check's to
report, with its index.  CIFAR-100 batches (``fine_labels``) and the binary
version of CIFAR-10 are not supported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stager.data.formats.base import ArraySource, FileProblem
from stager.errors import UsageError
from stager.examples.formats import CIFAR_ROW, restricted_load


def _field(batch: dict, key: str):
    # The original files have bytes keys; re-pickled copies may have str keys.
    if key.encode() in batch:
        return batch[key.encode()]
    if key in batch:
        return batch[key]
    raise FileProblem(f"not a CIFAR-10 batch (no `{key}`)")


def open_cifar_batch(path: Path, rel: str) -> tuple[ArraySource, ArraySource]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) of one batch file.

    Raises:
        FileProblem: not a readable pickle, not a dict of data and labels, or rows of the wrong size.
    """
    try:
        batch = restricted_load(path)
    except UsageError as exc:
        raise FileProblem(str(exc).removeprefix(f"{path}: ")) from None
    if not isinstance(batch, dict):
        raise FileProblem(f"not a CIFAR-10 batch (a {type(batch).__name__}, not a dict)")
    data, labels = _field(batch, "data"), _field(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
        kind = getattr(data, "dtype", type(data).__name__)
        raise FileProblem(f"data must be uint8 N x {CIFAR_ROW}, got {kind} {getattr(data, 'shape', '')}")
    try:
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise ValueError
        labels = labels.astype(np.int64)
    except (ValueError, TypeError):
        raise FileProblem("labels are not a list of integers") from None
    return ArraySource(data.reshape(-1, 3, 32, 32), rel), ArraySource(labels, rel)
