"""The CIFAR-10 example: ``CIFAR10DataModule`` and a small ``ResNet``.

Not supported: downloading (point ``data_dir`` at the unpacked official
``cifar-10-batches-py`` or let ``generate`` write synthetic batches), CIFAR-100
and the binary CIFAR-10 version.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stager.examples import formats, synthetic
from stager.examples.mnist import Classifier, ImageDataModule


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 from the python-pickle batches in ``data_dir/cifar-10-batches-py/``
    or directly in ``data_dir``.  Training reads every ``data_batch_N`` present;
    ``data_batch_1`` and ``test_batch`` must be there.  ``augment`` applies a
    padded random crop and a horizontal flip to training images (off by default:
    the synthetic classes are not mirror-symmetric)."""

    name = "CIFAR-10"

    def __init__(
        self,
        data_dir: str = "data/cifar10",
        batch_size: int = 64,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        generate: bool = True,
        seed: int = 0,
        augment: bool = False,
    ) -> None:
        super().__init__(data_dir, batch_size, val_fraction, num_workers, generate, seed, augment)
        self.save_hyperparameters()

    def _required(self) -> list[str]:
        return [formats.CIFAR_TRAIN_BATCHES[0], formats.CIFAR_TEST_BATCH]

    def _present(self, name: str) -> bool:
        folder = formats.find_cifar_dir(self.data_dir)
        return folder is not None and (folder / name).is_file()

    def _read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return formats.read_cifar_split(self.data_dir, split)

    def _write_synthetic(self) -> None:
        synthetic.write_cifar10(self.data_dir, seed=self.seed)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; a 1x1 convolution
    matches the shortcut when the block changes width or stride."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(Classifier):
    """A CIFAR-style ResNet: a 3x3 stem, then one stage per entry of ``blocks``
    (that many BasicBlocks), each stage after the first halving the resolution
    and doubling the width from ``width``; global average pooling; 10 classes.
    The default (width 16, one block per stage) trains an epoch of the synthetic
    data in seconds on a CPU."""

    def __init__(
        self,
        width: int = 16,
        blocks: Sequence[int] = (1, 1, 1),
        lr: float = 2e-3,
        weight_decay: float = 5e-4,
        lr_gamma: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, channels = [], width
        for stage, count in enumerate(blocks):
            out_channels = width * 2**stage
            for i in range(count):
                layers.append(BasicBlock(channels, out_channels, stride=2 if stage and i == 0 else 1))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 10)
        self.example_input_array = torch.zeros(1, 3, 32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
