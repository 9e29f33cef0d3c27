"""A small valid pipeline (and its recipe) to break one field at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

RECIPE = """\
name: tiny
base: linode/ubuntu24.04
builder: {type: g6-standard-2, region: us-east}
pip: [numpy]
"""

# Each line that a test changes is unique, so `line_of` finds it.
PIPELINE = """\
name: mnist-mlp
target: local
image: recipe.yaml
data:
  mnist:
    path: data/mnist
    validate: {labels: {min: 0, max: 9}, leakage: error}
storage: {bucket: stager-data, prefix: datasets, via: object-storage, region: us-east}
compute:
  type: g1-gpu-rtx6000-1
  region: us-east
  nodes: 1
train:
  model:
    class_path: stager.examples.mnist.MLP
    init_args:
      hidden: 64
  data:
    class_path: stager.examples.mnist.MNISTDataModule
    init_args: {batch_size: 32}
  trainer:
    max_epochs: 1
outputs: {checkpoints: true, logs: true}
budget:
  max_usd: 5
  max_hours: 2
  expected_hours: 0.5
rehearse: false
"""


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` holding ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


@pytest.fixture
def write_pipeline(tmp_path: Path):
    """write_pipeline(text=PIPELINE, recipe=RECIPE) -> the pipeline's path, beside its recipe."""

    def write(text: str = PIPELINE, recipe: str = RECIPE) -> Path:
        (tmp_path / "recipe.yaml").write_text(recipe)
        path = tmp_path / "exp.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def pipeline_text() -> str:
    return PIPELINE


@pytest.fixture
def find_line():
    return line_of
