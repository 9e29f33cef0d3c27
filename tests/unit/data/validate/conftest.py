"""Writers of small datasets in every layout, for planting defects in them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


def balanced(n: int, shape: tuple[int, ...], classes: int = 4, seed: int = 0, dtype=np.float32):
    """``n`` distinct random samples and balanced labels 0..classes-1."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    else:
        x = rng.random((n, *shape), dtype=np.float32).astype(dtype)
    y = np.arange(n) % classes
    return x, y.astype(np.int64)


def npy_pairs(root: Path, **splits) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in splits.items():
        np.save(root / f"{name}_x.npy", x)
        np.save(root / f"{name}_y.npy", y)
    return root


def npz(root: Path, compressed: bool = False, **splits) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compressed else np.savez
    for name, (x, y) in splits.items():
        save(root / f"{name}.npz", x=x, y=y)
    return root


def images(root: Path, fmt: str = "png", **splits) -> Path:
    """splits: name -> (images (n, H, W[, C]) uint8, labels); class folders are named c0, c1, ..."""
    from PIL import Image

    for name, (x, y) in splits.items():
        for index, (pixels, label) in enumerate(zip(x, y, strict=True)):
            folder = root / name / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"img{index:04d}.{fmt}")
    return root


def csv_files(root: Path, label: str = "label", **splits) -> Path:
    """splits: name -> (x (n, F), y); columns f0..f{F-1} then the label column."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in splits.items():
        header = ",".join([f"f{i}" for i in range(x.shape[1])] + [label])
        lines = [header] + [",".join([repr(float(v)) for v in row] + [str(lab)]) for row, lab in zip(x, y, strict=True)]
        (root / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def write():
    return SimpleNamespace(balanced=balanced, npy_pairs=npy_pairs, npz=npz, images=images, csv=csv_files)


def only(report, check: str, split: str | None = None):
    """The findings of ``check`` (in ``split``)."""
    return [f for f in report.findings if f.check == check and (split is None or f.split == split)]


@pytest.fixture
def findings():
    return only
