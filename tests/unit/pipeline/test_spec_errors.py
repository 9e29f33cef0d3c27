"""Every kind of mistake in a pipeline is one ConfigError naming file, line, field and a hint (exit code 2)."""

from __future__ import annotations

import pytest

from stager.errors import EXIT_USAGE, ConfigError
from stager.pipeline import load_pipeline

# (what to replace, with what, the field blamed, words of the problem, words of the hint, the line's text)
CASES = [
    ("target: local", "target: cloud", "target", "unknown target `cloud`", "local", "target: cloud"),
    ("target: local", "targte: local", "targte", "unknown key `targte`", "did you mean `target`?", "targte:"),
    ("name: mnist-mlp", "name: MNIST_MLP", "name", "invalid name 'MNIST_MLP'", "lowercase", "name: MNIST"),
    ("image: recipe.yaml", "image: recipes.yaml", "image", "recipe not found: recipes.yaml",
     "did you mean `recipe.yaml`?", "image:"),
    ("image: recipe.yaml", "image: images/zzz-unknown.yaml", "image", "recipe not found: images/zzz-unknown.yaml",
     "looked beside the pipeline (", "image:"),
    ("  type: g1-gpu-rtx6000-1", "  type: g1-gpu-rtx600-1", "compute.type", "unknown plan `g1-gpu-rtx600-1`",
     "did you mean `g1-gpu-rtx6000-1`?", "type: g1-gpu"),
    ("  type: g1-gpu-rtx6000-1", "  type: gpu-monster", "compute.type", "unknown plan `gpu-monster`",
     "GPU plans: g1-gpu-rtx6000-1", "type: gpu-monster"),
    ("  region: us-east", "  region: us-est", "compute.region", "unknown region `us-est`",
     "did you mean `us-east`?", "region: us-est"),
    ("  region: us-east", "  region: us-ord", "compute.region", "`us-ord` has no GPU instances",
     "GPU regions: ap-south, ap-west, eu-central, us-east, us-southeast", "region: us-ord"),
    ("  nodes: 1", "  nodes: 0", "compute.nodes", "must be at least 1, got 0", None, "nodes: 0"),
    ("  nodes: 1", "  nodes: two", "compute.nodes", "expected a whole number, got a string ('two')", "e.g. 1",
     "nodes: two"),
    ("  nodes: 1", "  nodes: 1.5", "compute.nodes", "expected a whole number", None, "nodes: 1.5"),
    ("  nodes: 1", "  nodse: 1", "compute.nodse", "unknown key `nodse`", "did you mean `nodes`?", "nodse"),
    ("  max_usd: 5", "  max_usd: 0", "budget.max_usd", "must be above 0, got 0",
     "e.g. max_usd: 5", "max_usd: 0"),
    ("  max_usd: 5", "  max_usd: -3", "budget.max_usd", "above 0, got -3", None, "max_usd: -3"),
    ("  max_usd: 5", "  max_usd: five", "budget.max_usd", "expected a number of dollars, got a string ('five')",
     None, "max_usd: five"),
    ("  max_hours: 2", "  max_hours: 0", "budget.max_hours", "above 0", None, "max_hours: 0"),
    ("  max_hours: 2", "  max_hours: .inf", "budget.max_hours", "finite", None, "max_hours: .inf"),
    ("  expected_hours: 0.5", "  expected_hours: 3", "budget.expected_hours", "3 is above max_hours 2",
     "training is stopped at max_hours", "expected_hours: 3"),
    ("  expected_hours: 0.5", "  expected_hours: true", "budget.expected_hours", "got a boolean (true)", None,
     "expected_hours: true"),
    ("outputs: {checkpoints: true, logs: true}", "outputs: {checkpoints: yes-please, logs: true}",
     "outputs.checkpoints", "expected true or false, got a string ('yes-please')", None, "outputs:"),
    ("outputs: {checkpoints: true, logs: true}", "outputs: {checkpoint: true}", "outputs.checkpoint",
     "unknown key `checkpoint`", "did you mean `checkpoints`?", "outputs:"),
    ("rehearse: false", "rehearse: maybe", "rehearse", "expected true, false or a mapping", None, "rehearse:"),
    ("rehearse: false", "rehearse: {type: g6-standrd-2}", "rehearse.type", "unknown plan `g6-standrd-2`",
     "did you mean `g6-standard-2`?", "rehearse:"),
    ("via: object-storage", "via: volumes", "storage.via", "unknown way `volumes`", "did you mean `volume`?",
     "storage:"),
    ("bucket: stager-data", "bucket: Bad_Bucket", "storage.bucket", "not a valid bucket name", "3-63",
     "storage:"),
    ("prefix: datasets", "prefix: a//b", "storage.prefix", "empty", None, "storage:"),
    ("via: object-storage,", "via: object-storage, volume: {size_gb: 20},", "storage.volume",
     "a volume is used only with via: volume", "add via: volume", "storage:"),
    ("via: object-storage,", "via: volume, volume: {size_gb: 5},", "storage.volume.size_gb",
     "must be between 10 and 10240, got 5", None, "storage:"),
    ("via: object-storage,", "via: volume, volume: {label: 9bad},", "storage.volume.label",
     "invalid volume label '9bad'", "starting with a letter", "storage:"),
    ("region: us-east}", "region: mars-1}", "storage.region", "unknown region `mars-1`", "regions:", "storage:"),
    ("    path: data/mnist", "    pth: data/mnist", "data.mnist.pth", "unknown key `pth`", "did you mean `path`?",
     "pth:"),
    ("    path: data/mnist", "    path: s3://bucket/mnist", "data.mnist.path", "is not a local folder",
     "sources", "path: s3"),
    ("leakage: error}", "leakge: error}", "data.mnist.validate.leakge", "unknown check `leakge`",
     "did you mean `leakage`?", "validate:"),
    ("    validate: {labels: {min: 0, max: 9}, leakage: error}",
     "    sources: [{url: 'http://example.org/x.npz', sha256: abc}]", "data.mnist.sources.0.url",
     "plain http", "use https", "sources:"),
    ("      hidden: 64", "      hiden: 64", "train.model.init_args.hiden", "MLP has no argument `hiden`",
     "did you mean `hidden`?", "hiden: 64"),
    ("      hidden: 64", "      hidden: wide", "train.model.init_args.hidden", "expected", None, "hidden: wide"),
    ("    class_path: stager.examples.mnist.MLP", "    class_path: stager.examples.mnist.MPL",
     "train.model.class_path", "has no attribute `MPL`", "did you mean `MLP`?", "mnist.MPL"),
    ("    class_path: stager.examples.mnist.MLP", "    class_path: nowhere.models.MLP", "train.model.class_path",
     "no module named `nowhere`", "PYTHONPATH", "class_path: nowhere"),
    ("    max_epochs: 1", "    max_epoch: 1", "train.trainer.max_epoch", "Trainer has no argument `max_epoch`",
     "did you mean `max_epochs`?", "max_epoch: 1"),
    ("  trainer:", "  trainr:", "train.trainr", "unknown section `trainr`", "did you mean `trainer`?", "trainr:"),
]


@pytest.mark.parametrize("old,new,field,problem,hint,needle", CASES, ids=[c[2] + ":" + c[3][:24] for c in CASES])
def test_each_mistake_is_located(write_pipeline, pipeline_text, find_line, old, new, field, problem, hint, needle):
    assert old in pipeline_text
    text = pipeline_text.replace(old, new, 1)
    path = write_pipeline(text)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, environ={})
    error = caught.value
    assert error.file == str(path)
    assert error.field == field
    assert error.line == find_line(text, needle)
    assert problem in error.problem
    if hint is not None:
        assert hint in (error.hint or "")
    assert error.exit_code == EXIT_USAGE
    rendered = str(error)
    assert rendered.startswith(f"{path}:{error.line}: `{field}`: ")
    assert "\n" not in rendered


@pytest.mark.parametrize("missing", ["name", "image", "compute", "train", "budget"])
def test_a_missing_section_is_named(write_pipeline, pipeline_text, missing):
    kept = []
    skipping = False
    for line in pipeline_text.splitlines():
        if line.startswith(f"{missing}:"):
            skipping = True
            continue
        if skipping and line.startswith(" "):
            continue
        skipping = False
        kept.append(line)
    path = write_pipeline("\n".join(kept) + "\n")
    with pytest.raises(ConfigError, match=f"missing `{missing}`") as caught:
        load_pipeline(path, environ={})
    assert caught.value.file == str(path) and caught.value.line == 1
    assert caught.value.hint


@pytest.mark.parametrize("old,new,field", [
    ("  type: g1-gpu-rtx6000-1\n", "", "compute"),
    ("  max_usd: 5\n", "", "budget"),
])
def test_a_missing_required_field_points_at_its_section(write_pipeline, pipeline_text, find_line, old, new, field):
    text = pipeline_text.replace(old, new)
    with pytest.raises(ConfigError, match="missing `") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == field
    assert caught.value.line == find_line(text, f"{field}:")


def test_wrong_section_types(write_pipeline, pipeline_text, find_line):
    text = pipeline_text.replace("compute:\n  type: g1-gpu-rtx6000-1\n  region: us-east\n  nodes: 1\n",
                                 "compute: [g1-gpu-rtx6000-1]\n")
    with pytest.raises(ConfigError, match="expected a mapping, got a list") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == "compute" and caught.value.line == find_line(text, "compute:")

    text = pipeline_text.replace("data:\n  mnist:", "data:\n  mnist: data/mnist\n  other:")
    with pytest.raises(ConfigError, match="expected a mapping with path") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == "data.mnist"


def test_train_must_be_a_mapping(write_pipeline, pipeline_text, find_line):
    start = pipeline_text.index("train:\n")
    end = pipeline_text.index("outputs:")
    text = pipeline_text[:start] + "train: pipelines/train/mnist.yaml\n" + pipeline_text[end:]
    with pytest.raises(ConfigError, match="trainer's config") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == "train" and caught.value.line == find_line(text, "train:")


def test_train_without_a_model_is_located_at_train(write_pipeline, pipeline_text):
    text = pipeline_text.replace("  model:\n    class_path: stager.examples.mnist.MLP\n    init_args:\n"
                                 "      hidden: 64\n", "")
    with pytest.raises(ConfigError, match="no model configured") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == "train.model"
    assert caught.value.file.endswith("exp.yaml")


def test_a_mistake_in_the_recipe_is_located_in_the_recipe(write_pipeline, tmp_path):
    path = write_pipeline(recipe="name: tiny\nbase: linode/ubuntu24.04\nbuilder: {type: g6-standard-2}\n")
    with pytest.raises(ConfigError, match="missing `builder.region`") as caught:
        load_pipeline(path, environ={})
    assert caught.value.file == str(tmp_path / "recipe.yaml")


def test_an_image_that_is_a_folder(write_pipeline, pipeline_text, tmp_path):
    (tmp_path / "images").mkdir()
    path = write_pipeline(pipeline_text.replace("image: recipe.yaml", "image: images"))
    with pytest.raises(ConfigError, match="is a folder, not a recipe") as caught:
        load_pipeline(path, environ={})
    assert caught.value.field == "image"


def test_the_linode_target_needs_a_bucket(write_pipeline, pipeline_text, find_line):
    text = pipeline_text.replace("bucket: stager-data, ", "").replace("target: local", "target: linode")
    with pytest.raises(ConfigError, match="missing `storage.bucket`") as caught:
        load_pipeline(write_pipeline(text), environ={})
    assert caught.value.field == "storage" and caught.value.line == find_line(text, "storage:")
    assert "${STAGER_BUCKET}" in caught.value.hint

    text = "\n".join(line for line in pipeline_text.splitlines() if not line.startswith("storage:")) + "\n"
    with pytest.raises(ConfigError, match="missing `storage`"):
        load_pipeline(write_pipeline(text), environ={}, target="linode")
    assert load_pipeline(write_pipeline(text), environ={}).storage.bucket == "stager-data"  # local: a default


def test_an_unknown_target_override(write_pipeline):
    with pytest.raises(ConfigError, match="unknown target `lindoe`") as caught:
        load_pipeline(write_pipeline(), environ={}, target="lindoe")
    assert caught.value.field == "target"
    assert caught.value.hint == "did you mean `linode`?"


def test_not_yaml_and_not_a_mapping(write_pipeline):
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_pipeline(write_pipeline("name: [unclosed\n"), environ={})
    assert caught.value.line is not None
    with pytest.raises(ConfigError, match="a pipeline must be a mapping"):
        load_pipeline(write_pipeline("- just\n- a list\n"), environ={})


def test_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_pipeline(tmp_path / "nope.yaml", environ={})
    assert caught.value.exit_code == EXIT_USAGE
