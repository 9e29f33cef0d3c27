"""The MNIST example: ``MNISTDataModule`` and an ``MLP`` classifier.

``Classifier`` and ``ImageDataset`` are shared with the CIFAR-10 example.
Not supported: downloading (stager never fetches data; point ``data_dir`` at the
official IDX files or let ``generate`` write synthetic ones), and transforms
other than normalisation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from stager.errors import UsageError
from stager.examples import formats, synthetic
from stager.train.datamodule import DataModule
from stager.train.module import Module

log = logging.getLogger(__name__)


class ImageDataset(Dataset):
    """uint8 images (N, C, H, W) served as normalised float tensors with int64 labels.

    Images stay uint8 in memory (a quarter of float32); ``augment`` adds a random
    4-pixel-padded crop and a horizontal flip, CIFAR's usual augmentation.
    """

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, mean: torch.Tensor, std: torch.Tensor, augment: bool = False
    ) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = (self.images[index].float() / 255 - self.mean) / self.std
        if self.augment:
            h, w = x.shape[-2:]
            top, left = torch.randint(0, 9, (2,)).tolist()
            x = F.pad(x, (4, 4, 4, 4))[:, top : top + h, left : left + w]
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
        return x, self.labels[index]


def channel_stats(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std in [0, 1] units, so real and synthetic data are
    both normalised by their own statistics.  The first 10,000 images are
    enough and keep the float copy small for the real datasets."""
    sample = images[:10_000]
    scaled = sample.reshape(len(sample), sample.shape[1], -1).astype(np.float32) / 255
    mean = scaled.mean(axis=(0, 2))
    std = scaled.std(axis=(0, 2)).clip(min=1e-3)
    return torch.from_numpy(mean), torch.from_numpy(std)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices, a seeded shuffle so the split is stable across runs."""
    if not 0.0 <= val_fraction < 1.0:
        raise UsageError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return order[n_val:], order[:n_val]


class ImageDataModule(DataModule):
    """The shared loader logic: a train split with a held-out validation part
    (``val_fraction``; 0 validates on the test split instead) and a test split."""

    name = "images"

    def __init__(
        self,
        data_dir: str,
        batch_size: int,
        val_fraction: float,
        num_workers: int,
        generate: bool,
        seed: int,
        augment: bool = False,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.generate = generate
        self.seed = seed
        self.augment = augment
        self.train_set = self.val_set = self.test_set = None
        self.mean = self.std = None

    # Subclasses name the files that must be there and read and write them.
    def _required(self) -> list[str]:
        raise NotImplementedError

    def _present(self, name: str) -> bool:
        raise NotImplementedError

    def _read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _write_synthetic(self) -> None:
        raise NotImplementedError

    def prepare_data(self) -> None:
        required = self._required()
        missing = [name for name in required if not self._present(name)]
        if not missing:
            return
        if not self.generate:
            raise UsageError(f"{self.data_dir}: no {self.name} data ({', '.join(missing)} missing) and generate is off")
        if len(missing) < len(required):
            # Never write over part of a real copy.
            raise UsageError(f"{self.data_dir}: incomplete {self.name} data, missing {', '.join(missing)}")
        self._write_synthetic()
        log.warning(
            "%s: no %s files found; wrote SYNTHETIC stand-in data there (not the real dataset)", self.data_dir, self.name
        )

    def setup(self, stage: str) -> None:
        if self.train_set is None:  # every stage needs the train split's normalisation statistics
            images, labels = self._read("train")
            self.mean, self.std = channel_stats(images)
            train_idx, val_idx = split_indices(len(labels), self.val_fraction, self.seed)
            self.train_set = ImageDataset(images[train_idx], labels[train_idx], self.mean, self.std, self.augment)
            if len(val_idx):
                self.val_set = ImageDataset(images[val_idx], labels[val_idx], self.mean, self.std)
        if self.test_set is None and (stage in ("test", "predict") or self.val_set is None):
            self.test_set = ImageDataset(*self._read("test"), self.mean, self.std)
        if self.val_set is None:
            self.val_set = self.test_set

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


class MNISTDataModule(ImageDataModule):
    """MNIST from the four official IDX files (plain or .gz) in ``data_dir``.

    With ``generate`` and no files there, ``prepare_data`` writes synthetic ones
    (``stager.examples.synthetic.write_mnist``) and logs a warning saying so.
    """

    name = "MNIST"

    def __init__(
        self,
        data_dir: str = "data/mnist",
        batch_size: int = 64,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        generate: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(data_dir, batch_size, val_fraction, num_workers, generate, seed)
        self.save_hyperparameters()

    def _required(self) -> list[str]:
        return list(formats.MNIST_FILES.values())

    def _present(self, name: str) -> bool:
        return formats.find_mnist_file(self.data_dir, name) is not None

    def _read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels = formats.read_mnist_split(self.data_dir, split)
        return images[:, None], labels  # add the channel axis

    def _write_synthetic(self) -> None:
        synthetic.write_mnist(self.data_dir, seed=self.seed)


class Classifier(Module):
    """Cross-entropy classification steps and logging shared by both examples.

    Logs ``train_loss`` (progress bar) per step, ``val_loss``/``val_acc`` and
    ``test_loss``/``test_acc`` per epoch.  With ``lr_gamma`` the learning rate
    decays by that factor every epoch.
    """

    def _shared_step(self, batch: Any, prefix: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=-1) == y).float().mean()
        self.log(f"{prefix}_loss", loss, prog_bar=True, batch_size=len(y))
        self.log(f"{prefix}_acc", acc, prog_bar=prefix != "test", batch_size=len(y))
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "test")

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if not self.hparams.get("lr_gamma"):
            return optimizer
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.hparams.lr_gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class MLP(Classifier):
    """A two-hidden-layer perceptron on flattened 28x28 images, 10 classes."""

    def __init__(
        self,
        hidden: int = 128,
        lr: float = 1e-3,
        dropout: float = 0.1,
        weight_decay: float = 0.0,
        lr_gamma: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )
        self.example_input_array = torch.zeros(1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
