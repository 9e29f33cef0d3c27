"""Small, learnable stand-ins for MNIST and CIFAR-10, written in the real formats.

Each class gets a random blocky prototype image; every sample is its class's
prototype shifted by a few pixels, blended with part of another class's,
scaled in brightness and covered in noise.
A small MLP or CNN separates the classes within an epoch or two, so a falling
validation loss shows a training pipeline works end to end.  The data says
nothing about how a model does on the real datasets.  Output is a function of
the arguments only (same seed, same bytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stager.examples.formats import (
    CIFAR_DIRNAME,
    CIFAR_META,
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    MNIST_FILES,
    write_cifar_batch,
    write_cifar_meta,
    write_idx,
)

NUM_CLASSES = 10
# Difficulty, tuned so the example models reach roughly 90-98% validation
# accuracy in a few epochs rather than 100% in one.
MNIST_NOISE, MNIST_MIX = 0.35, 0.5
CIFAR_NOISE, CIFAR_MIX = 0.3, 0.5


def _prototypes(rng: np.random.Generator, channels: int, size: int, cells: int) -> np.ndarray:
    """(10, channels, size, size) floats in [0, 1]: random ``cells`` x ``cells``
    grids blown up to ``size`` pixels, so features are a few pixels wide and
    survive the small shifts applied per sample."""
    grid = rng.random((NUM_CLASSES, channels, cells, cells))
    block = size // cells
    return np.kron(grid, np.ones((block, block)))[..., :size, :size]


def _crops(rng: np.random.Generator, protos: np.ndarray, labels: np.ndarray, out: int) -> np.ndarray:
    """(n, C, out, out) crops of the labels' prototypes at random offsets."""
    n, margin = len(labels), protos.shape[-1] - out
    dy, dx = rng.integers(0, margin + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(out))[:, :, None]  # (n, out, 1)
    cols = (dx[:, None] + np.arange(out))[:, None, :]  # (n, 1, out)
    # Advanced indices split by a slice go first: (n, out, out, C).
    return protos[labels[:, None, None], :, rows, cols].transpose(0, 3, 1, 2)


def _samples(
    rng: np.random.Generator, protos: np.ndarray, n: int, out: int, noise: float, mix: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, C, out, out) with balanced shuffled labels: a shifted
    crop of the class prototype blended with up to ``mix`` of another class's,
    so the classes overlap a little and accuracy is not trivially perfect."""
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    others = (labels + rng.integers(1, NUM_CLASSES, size=n)) % NUM_CLASSES
    weight = rng.uniform(0.0, mix, size=(n, 1, 1, 1))
    crops = (1 - weight) * _crops(rng, protos, labels, out) + weight * _crops(rng, protos, others, out)
    brightness = rng.uniform(0.6, 1.0, size=(n, 1, 1, 1))
    images = crops * brightness + rng.normal(0.0, noise, size=crops.shape)
    return (np.clip(images, 0.0, 1.0) * 255).round().astype(np.uint8), labels.astype(np.int64)


def write_mnist(data_dir: str | Path, n_train: int = 6000, n_test: int = 1000, seed: int = 0, gz: bool = False) -> Path:
    """Write the four MNIST IDX files (official names, ``.gz`` added when ``gz``)
    directly into ``data_dir``: 28x28 grey images on a dark background."""
    data_dir = Path(data_dir)
    rng = np.random.default_rng(seed)
    # 8x8 cells of 4 px on a 32 px canvas (shifts of up to 4 px); a sparse
    # threshold gives dark backgrounds with bright strokes, roughly like digits.
    protos = (_prototypes(rng, 1, 32, 8) > 0.6).astype(np.float64)
    protos[..., :2, :] = protos[..., -2:, :] = protos[..., :, :2] = protos[..., :, -2:] = 0.0
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _samples(rng, protos, n, 28, noise=MNIST_NOISE, mix=MNIST_MIX)
        write_idx(data_dir / (MNIST_FILES[f"{split}_images"] + suffix), images[:, 0])
        write_idx(data_dir / (MNIST_FILES[f"{split}_labels"] + suffix), labels.astype(np.uint8))
    return data_dir


def write_cifar10(
    data_dir: str | Path, n_per_batch: int = 500, n_test: int = 500, seed: int = 0, n_batches: int = 5
) -> Path:
    """Write ``data_batch_1..n_batches``, ``test_batch`` and ``batches.meta`` into
    ``data_dir/cifar-10-batches-py/`` (the layout the official tarball unpacks
    to); returns that folder.  Images are 32x32 RGB colour patterns."""
    if not 1 <= n_batches <= len(CIFAR_TRAIN_BATCHES):
        raise ValueError(f"n_batches must be 1..{len(CIFAR_TRAIN_BATCHES)}, got {n_batches}")
    folder = Path(data_dir) / CIFAR_DIRNAME
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, 3, 40, 5)  # 8 px cells on a 40 px canvas: shifts of up to 8 px
    for i, name in enumerate(CIFAR_TRAIN_BATCHES[:n_batches], start=1):
        images, labels = _samples(rng, protos, n_per_batch, 32, noise=CIFAR_NOISE, mix=CIFAR_MIX)
        write_cifar_batch(folder / name, images, labels, f"training batch {i} of {n_batches}", _names(labels, i))
    images, labels = _samples(rng, protos, n_test, 32, noise=CIFAR_NOISE, mix=CIFAR_MIX)
    write_cifar_batch(folder / CIFAR_TEST_BATCH, images, labels, "testing batch 1 of 1", _names(labels, 0))
    write_cifar_meta(folder / CIFAR_META, n_per_batch)
    return folder


def _names(labels: np.ndarray, batch: int) -> list[str]:
    return [f"synthetic_{batch}_{i:05d}_class{label}.png" for i, label in enumerate(labels)]
