"""The shipped pipelines load, their train sections pass the trainer's checks, and `stager data` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stager.data.datasets import DatasetSettings
from stager.errors import ConfigError
from stager.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def at_the_root(monkeypatch):
    """Shipped pipelines name images/ and data/ relative to the project's root, where stager runs."""
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("name,dataset,model", [
    ("exp.yaml", "mnist", "stager.examples.mnist.MLP"),
    ("cifar.yaml", "cifar10", "stager.examples.cifar.ResNet"),
])
def test_local_pipelines_load(name, dataset, model):
    spec = load_pipeline(ROOT / "pipelines" / name, environ={})
    assert spec.target == "local"
    assert spec.image.path == ROOT / "images" / "cpu.yaml"
    assert spec.dataset(dataset).path == ROOT / "data" / dataset
    assert (spec.compute.type, spec.compute.region) == ("g1-gpu-rtx6000-1", "us-east")
    assert spec.train.resolved["model"]["class_path"] == model
    assert spec.budget.expected_hours is not None and spec.budget.max_usd <= 5
    # The data module reads the folder the pipeline validates and syncs.
    assert spec.train.config["data"]["init_args"]["data_dir"] == f"data/{dataset}"
    # `stager data validate data/<name> --config pipelines/<file>` finds the same settings.
    settings = DatasetSettings.resolve(Path("data") / dataset, config=ROOT / "pipelines" / name)
    assert settings.name == dataset
    assert settings.validation == spec.dataset(dataset).validation


def test_the_linode_pipeline_takes_its_names_from_the_environment():
    path = ROOT / "pipelines" / "exp-linode.yaml"
    spec = load_pipeline(path, environ={"STAGER_BUCKET": "my-stager-data", "STAGER_REGION": "eu-central"})
    assert spec.target == "linode"
    assert spec.image.recipe.name == "gold"
    assert (spec.storage.bucket, spec.storage.region, spec.compute.region) == (
        "my-stager-data", "eu-central", "eu-central")
    assert spec.rehearse.enabled
    with pytest.raises(ConfigError, match="STAGER_BUCKET is not set") as caught:
        load_pipeline(path, environ={})
    assert caught.value.field == "storage.bucket" and caught.value.line is not None
