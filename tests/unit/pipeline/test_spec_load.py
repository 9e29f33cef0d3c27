"""A valid pipeline becomes frozen, typed specs with defaults filled in."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from stager.errors import ConfigError
from stager.pipeline import Catalogue, PipelineSpec, load_pipeline


def test_every_section_is_typed(write_pipeline, tmp_path):
    spec = load_pipeline(write_pipeline(), environ={})
    assert isinstance(spec, PipelineSpec)
    assert (spec.name, spec.target, spec.path) == ("mnist-mlp", "local", tmp_path / "exp.yaml")
    assert spec.image.path == tmp_path / "recipe.yaml"
    assert spec.image.recipe.builder_type == "g6-standard-2"
    (mnist,) = spec.data
    assert mnist.name == "mnist"
    assert mnist.path == Path.cwd() / "data" / "mnist"  # not beside the pipeline: the working folder's
    assert mnist.validation.option("labels", "max") == 9
    assert mnist.settings().validation is mnist.validation
    assert spec.storage.dataset_url("mnist") == "s3://stager-data/datasets/mnist"
    assert (spec.compute.type, spec.compute.region, spec.compute.nodes, spec.compute.gpus_per_node) == (
        "g1-gpu-rtx6000-1", "us-east", 1, 1)
    assert spec.train.config["model"]["init_args"] == {"hidden": 64}
    assert spec.train.resolved["model"]["init_args"]["hidden"] == 64
    assert spec.train.resolved["model"]["init_args"]["dropout"] == 0.1  # the trainer filled in the default
    assert (spec.outputs.checkpoints, spec.outputs.logs, spec.outputs.metrics) == (True, True, True)
    assert (spec.budget.max_usd, spec.budget.max_hours, spec.budget.expected_hours) == (5.0, 2.0, 0.5)
    assert (spec.budget.estimate_hours, spec.budget.estimate_basis) == (0.5, "budget.expected_hours")
    assert spec.rehearse.enabled is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_a_dataset_beside_the_pipeline_wins(write_pipeline, tmp_path):
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    spec = load_pipeline(write_pipeline(), environ={})
    assert spec.dataset("mnist").path == tmp_path / "data" / "mnist"
    with pytest.raises(KeyError):
        spec.dataset("cifar")


def test_defaults_of_optional_sections(write_pipeline, pipeline_text):
    text = "\n".join(line for line in pipeline_text.splitlines()
                     if not line.startswith(("storage:", "outputs:", "rehearse:", "target:", "  expected_hours")))
    start, end = text.index("data:\n"), text.index("compute:")
    spec = load_pipeline(write_pipeline(text[:start] + text[end:] + "\n"), environ={})
    assert spec.target == "local"
    assert spec.data == ()
    assert (spec.storage.via, spec.storage.bucket, spec.storage.prefix, spec.storage.region) == (
        "object-storage", "stager-data", "datasets", "us-east")
    assert spec.outputs.checkpoints and spec.outputs.metrics
    assert (spec.budget.estimate_hours, spec.budget.estimate_basis) == (2.0, "budget.max_hours")
    assert not spec.rehearse.enabled


def test_the_target_override_wins(write_pipeline):
    assert load_pipeline(write_pipeline(), environ={}, target="linode").target == "linode"


def test_volume_storage(write_pipeline, pipeline_text):
    text = pipeline_text.replace("via: object-storage,", "via: volume, volume: {size_gb: 50, label: mnist-data},")
    storage = load_pipeline(write_pipeline(text), environ={}).storage
    assert (storage.via, storage.volume_size_gb, storage.volume_label) == ("volume", 50, "mnist-data")
    text = pipeline_text.replace("via: object-storage,", "via: volume,")
    assert load_pipeline(write_pipeline(text), environ={}).storage.volume_size_gb == 20


@pytest.mark.parametrize("written,enabled,plan,hours", [
    ("rehearse: true", True, "g6-standard-2", 1.0),
    ("rehearse: {type: g6-dedicated-2, max_hours: 0.5}", True, "g6-dedicated-2", 0.5),
    ("rehearse: {enabled: false, type: g6-nanode-1}", False, "g6-nanode-1", 1.0),
])
def test_rehearse_forms(write_pipeline, pipeline_text, written, enabled, plan, hours):
    spec = load_pipeline(write_pipeline(pipeline_text.replace("rehearse: false", written)), environ={})
    assert (spec.rehearse.enabled, spec.rehearse.type, spec.rehearse.max_hours) == (enabled, plan, hours)


def test_a_cpu_plan_runs_anywhere_and_a_live_catalogue_can_be_given(write_pipeline, pipeline_text):
    text = pipeline_text.replace("  type: g1-gpu-rtx6000-1", "  type: g6-dedicated-2").replace(
        "  region: us-east", "  region: us-ord")
    assert load_pipeline(write_pipeline(text), environ={}).compute.gpus_per_node == 0

    class Plan:
        def __init__(self, id, gpus):
            self.id, self.gpus = id, gpus

    live = Catalogue.from_api([Plan("g3-gpu-new-1", 1), Plan("g6-standard-2", 0)],
                              [{"id": "us-east", "capabilities": ["Linodes", "GPU Linodes"]},
                               {"id": "us-ord", "capabilities": ["Linodes"]}])
    text = pipeline_text.replace("  type: g1-gpu-rtx6000-1", "  type: g3-gpu-new-1")
    assert load_pipeline(write_pipeline(text), environ={}, catalogue=live).compute.type == "g3-gpu-new-1"
    with pytest.raises(ConfigError, match="unknown plan"):
        load_pipeline(write_pipeline(text), environ={})


def test_the_train_section_can_be_left_unchecked(write_pipeline, pipeline_text):
    text = pipeline_text.replace("stager.examples.mnist.MLP", "somewhere.not.installed.Model")
    spec = load_pipeline(write_pipeline(text), environ={}, check_train=False)
    assert spec.train.config["model"]["class_path"] == "somewhere.not.installed.Model"
    assert spec.train.resolved is None


def test_later_errors_are_located_through_the_spec(write_pipeline, pipeline_text, find_line):
    spec = load_pipeline(write_pipeline(), environ={})
    error = spec.error("compute.type", "no capacity for `g1-gpu-rtx6000-1` in us-east", "try us-southeast")
    assert error.line == find_line(pipeline_text, "type: g1-gpu")
    assert str(error).endswith("`compute.type`: no capacity for `g1-gpu-rtx6000-1` in us-east (try us-southeast)")


def test_the_dump_has_the_file_shape(write_pipeline):
    dumped = load_pipeline(write_pipeline(), environ={}).to_redacted_dict()
    assert list(dumped) == ["name", "description", "target", "pipeline", "image", "data", "storage", "compute",
                            "train", "outputs", "budget", "rehearse"]
    assert dumped["data"]["mnist"]["validate"]["labels"] == {"level": "error", "min": 0, "max": 9}
    assert dumped["budget"] == {"max_usd": 5.0, "max_hours": 2.0, "expected_hours": 0.5}


def test_storage_defaults_the_prefix_and_the_outputs_bucket(write_pipeline, pipeline_text):
    text = re.sub(r"prefix: [^,}]+, ", "", pipeline_text)
    assert "prefix" not in text.split("storage:")[1].split("\n")[0]
    storage = load_pipeline(write_pipeline(text), environ={}).storage
    assert (storage.prefix, storage.outputs_bucket) == ("datasets", f"{storage.bucket}-runs")


def test_the_outputs_bucket_must_differ_from_the_data_bucket(write_pipeline, pipeline_text):
    bucket = re.search(r"bucket: ([a-z0-9.-]+)", pipeline_text).group(1)
    text = pipeline_text.replace(f"bucket: {bucket},", f"bucket: {bucket}, outputs_bucket: {bucket},")
    with pytest.raises(ConfigError, match="storage.outputs_bucket"):
        load_pipeline(write_pipeline(text), environ={})
