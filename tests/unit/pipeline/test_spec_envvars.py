"""``${VAR}`` references: resolved from the environment, located when missing, and never written down when secret."""

from __future__ import annotations

import json

import pytest

from stager.errors import ConfigError
from stager.pipeline import REDACTED, load_pipeline, looks_secret
from stager.pipeline.envvars import redact

SECRET = "s3cr3t-T0ken-value-9f8e7d"


def test_references_resolve_with_and_without_defaults(write_pipeline, pipeline_text):
    text = (pipeline_text
            .replace("bucket: stager-data", "bucket: '${BUCKET}'")
            .replace("prefix: datasets", "prefix: '${PREFIX:-data/sets}'")
            .replace("    path: data/mnist", "    path: ${DATA_ROOT:-data}/mnist"))
    spec = load_pipeline(write_pipeline(text), environ={"BUCKET": "my-bucket", "DATA_ROOT": ""})
    assert spec.storage.bucket == "my-bucket"
    assert spec.storage.prefix == "data/sets"  # unset: the default
    assert spec.dataset("mnist").path.parts[-2:] == ("data", "mnist")  # empty: the default too


def test_a_value_that_is_only_a_reference_takes_its_type(write_pipeline, pipeline_text):
    text = (pipeline_text
            .replace("  nodes: 1", "  nodes: ${NODES}")
            .replace("  max_usd: 5", "  max_usd: ${MAX_USD:-7.5}")
            .replace("rehearse: false", "rehearse: ${REHEARSE:-false}")
            .replace("      hidden: 64", "      hidden: ${HIDDEN:-32}")
            .replace("prefix: datasets", "prefix: '${YEAR}'"))
    spec = load_pipeline(write_pipeline(text), environ={"NODES": "3", "YEAR": "2024"})
    assert spec.compute.nodes == 3
    assert spec.budget.max_usd == 7.5
    assert spec.rehearse.enabled is False
    assert spec.train.config["model"]["init_args"]["hidden"] == 32  # the trainer's checker accepted an int
    assert spec.storage.prefix == "2024"  # a string field keeps the text


def test_text_around_a_reference_stays_text_and_dollar_dollar_escapes(write_pipeline, pipeline_text):
    text = pipeline_text.replace("name: mnist-mlp", "name: mnist-${N}").replace("prefix: datasets", "prefix: 'a$${b}'")
    spec = load_pipeline(write_pipeline(text), environ={"N": "4"})
    assert spec.name == "mnist-4"
    assert spec.storage.prefix == "a${b}"
    assert spec.to_redacted_dict()["storage"]["prefix"] == "a${b}"


def test_a_missing_variable_is_located(write_pipeline, pipeline_text, find_line):
    text = pipeline_text.replace("bucket: stager-data", "bucket: '${STAGER_BUCKET}'")
    path = write_pipeline(text)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, environ={})
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), find_line(text, "storage:"), "storage.bucket")
    assert error.problem == "environment variable STAGER_BUCKET is not set"
    assert error.hint == "set it, or give a default: ${STAGER_BUCKET:-...}"


@pytest.mark.parametrize("value,problem", [
    ("${1BAD}", "`${1BAD}` is not a variable reference"),
    ("${BUCKET", "`${` without a closing `}`"),
    ("${BUCKET:=x}", "is not a variable reference"),
])
def test_a_malformed_reference_is_located(write_pipeline, pipeline_text, find_line, value, problem):
    text = pipeline_text.replace("  type: g1-gpu-rtx6000-1", f"  type: '{value}'")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(write_pipeline(text), environ={"BUCKET": "b"})
    assert problem in caught.value.problem
    assert caught.value.field == "compute.type"
    assert caught.value.line == find_line(text, "type: '")
    assert "${NAME:-default}" in caught.value.hint


def test_the_process_environment_is_the_default(write_pipeline, pipeline_text, monkeypatch):
    monkeypatch.setenv("STAGER_TEST_BUCKET", "from-the-env")
    text = pipeline_text.replace("bucket: stager-data", "bucket: '${STAGER_TEST_BUCKET}'")
    assert load_pipeline(write_pipeline(text)).storage.bucket == "from-the-env"


@pytest.mark.parametrize("name", ["LINODE_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "DB_PASSWORD",
                                  "WANDB_API_KEY", "apiKey", "api_key", "ssh-key", "MYTOKEN", "private_key",
                                  "Authorization", "db_passwd"])
def test_secret_looking_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["STAGER_BUCKET", "HOME", "MONKEY", "author", "keyboard_layout", "nodes",
                                  "max_usd", "monitor", "save_top_k", "label_column", "prefix"])
def test_harmless_names(name):
    assert not looks_secret(name)


def _secret_pipeline(pipeline_text: str) -> str:
    """A pipeline that puts a secret variable in several places, and one literal secret under a secret key."""
    return (pipeline_text
            .replace("prefix: datasets", "prefix: '${DATA_TOKEN}'")
            .replace("    path: data/mnist", "    path: data/${DATA_TOKEN}/mnist")
            .replace("  trainer:\n    max_epochs: 1\n",
                     "  trainer:\n    max_epochs: 1\n    logger:\n      class_path: stager.train.CSVLogger\n"
                     "      init_args: {save_dir: logs, name: 'run-${DATA_TOKEN}'}\n")
            .replace("name: mnist-mlp\n", "name: mnist-mlp\ndescription: 'token ${DATA_TOKEN:-none}'\n"))


def test_a_secret_from_the_environment_never_reaches_the_dump(write_pipeline, pipeline_text):
    spec = load_pipeline(write_pipeline(_secret_pipeline(pipeline_text)), environ={"DATA_TOKEN": SECRET})
    # The spec itself holds the real values: the run needs them.
    assert spec.storage.prefix == SECRET
    assert spec.train.config["trainer"]["logger"]["init_args"]["name"] == f"run-{SECRET}"
    dumped = spec.to_redacted_dict()
    for text in (json.dumps(dumped), spec.to_redacted_json(), spec.to_redacted_yaml(), repr(spec)):
        assert SECRET not in text
    assert dumped["storage"]["prefix"] == REDACTED
    assert dumped["data"]["mnist"]["path"] == REDACTED
    assert dumped["train"]["trainer"]["logger"]["init_args"]["name"] == REDACTED
    assert dumped["storage"]["bucket"] == "stager-data"  # the rest is kept
    assert dumped["compute"] == {"type": "g1-gpu-rtx6000-1", "region": "us-east", "nodes": 1}
    assert "train.trainer.logger.init_args.name" in spec.secret_fields


def test_values_under_secret_keys_are_redacted(write_pipeline, pipeline_text):
    text = pipeline_text.replace(
        "  trainer:\n    max_epochs: 1\n",
        "  trainer:\n    max_epochs: 1\n    logger:\n      class_path: tests.nowhere.Logger\n"
        "      init_args: {api_key: literal-key-123, project: mnist}\n")
    spec = load_pipeline(write_pipeline(text), environ={}, check_train=False)
    init_args = spec.to_redacted_dict()["train"]["trainer"]["logger"]["init_args"]
    assert init_args == {"api_key": REDACTED, "project": "mnist"}


def test_a_secret_is_kept_out_of_error_messages(write_pipeline, pipeline_text):
    text = pipeline_text.replace("  type: g1-gpu-rtx6000-1", "  type: ${GPU_TOKEN}")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(write_pipeline(text), environ={"GPU_TOKEN": SECRET})
    assert SECRET not in str(caught.value)
    assert "unknown plan `<redacted>`" in str(caught.value)


def test_redact_keeps_empty_values_and_sweeps_copies():
    data = {"token": "", "password": None, "note": f"copied {SECRET} here", "list": [SECRET, "ok"], "n": 3}
    assert redact(data, secret_values=[SECRET]) == {
        "token": "", "password": None, "note": REDACTED, "list": [REDACTED, "ok"], "n": 3}
    assert redact({"a": {"b": "x"}}, secret_fields=["a"]) == {"a": REDACTED}


def test_a_lone_dollar_is_kept(write_pipeline, pipeline_text):
    text = pipeline_text.replace("name: mnist-mlp\n", "name: mnist-mlp\ndescription: costs $5 or $HOME\n")
    spec = load_pipeline(write_pipeline(text), environ={"HOME": "/root"})
    assert spec.secret_fields == frozenset()
    assert spec.description == "costs $5 or $HOME"
