"""ValidationConfig.from_mapping: levels, options, defaults, and located errors."""

from __future__ import annotations

import pytest

from stager.data.validate_config import CHECKS, DEFAULT_LEVELS, LEVELS, CheckSetting, ValidationConfig
from stager.errors import ConfigError
from stager.yamlio import loads


def test_defaults_cover_every_check():
    config = ValidationConfig.from_mapping(None)
    assert set(config.checks) == set(CHECKS)
    assert {name: s.level for name, s in config.checks.items()} == DEFAULT_LEVELS
    assert config.checks["near_duplicates"] == CheckSetting("off", {"distance": 4, "hash": "dhash"})
    assert config.label_column == "label" and config.sample_limit == 20
    assert config == ValidationConfig()


def test_levels_options_and_settings_from_yaml():
    doc = loads(
        "validate:\n"
        "  leakage: warn\n"
        "  duplicates: off\n"          # YAML 1.1: false
        "  near_duplicates: on\n"      # true: the check's default, warn when it is off by default
        "  labels: {min: 0, max: 9}\n"  # options only: the default level stays
        "  range: {level: warn, min: 0, max: 255}\n"
        "  label_column: target\n"
        "  sample_limit: 5\n",
        "p.yaml",
    )
    config = ValidationConfig.from_mapping(doc.data["validate"], doc=doc)
    assert config.level("leakage") == "warn"
    assert config.level("duplicates") == "off"
    assert config.level("near_duplicates") == "warn"
    assert config.checks["labels"] == CheckSetting("error", {"num_classes": None, "min": 0, "max": 9,
                                                             "max_imbalance": None})
    assert config.checks["range"].level == "warn" and config.option("range", "max") == 255
    assert (config.label_column, config.sample_limit) == ("target", 5)
    assert config.level("files") == "error"  # untouched checks keep their defaults


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("level", LEVELS)
def test_every_check_takes_every_level(check, level):
    assert ValidationConfig.from_mapping({check: level}).level(check) == level
    assert ValidationConfig.from_mapping({check: {"level": level}}).level(check) == level


@pytest.mark.parametrize(("text", "line", "field", "problem", "hint"), [
    ("  leakge: error\n", 5, "data.mnist.validate.leakge", "unknown check `leakge`", "did you mean `leakage`?"),
    ("  leakage: eror\n", 5, "data.mnist.validate.leakage", "unknown level 'eror'", "did you mean `error`?"),
    ("  labels:\n    mni: 0\n", 6, "data.mnist.validate.labels.mni", "unknown option `mni` of check `labels`",
     "did you mean `min`?"),
    ("  range: {min: low}\n", 5, "data.mnist.validate.range.min", "expected a number, got 'low'", None),
    ("  labels: {min: 0}\n", 5, "data.mnist.validate.labels.min", "labels needs both min and max", None),
    ("  labels: {num_classes: 10, min: 0, max: 9}\n", 5, "data.mnist.validate.labels.num_classes",
     "give num_classes or min/max, not both", None),
    ("  labels: {level: fatal}\n", 5, "data.mnist.validate.labels.level", "unknown level 'fatal'", None),
    ("  sample_limit: 0\n", 5, "data.mnist.validate.sample_limit", "expected a whole number >= 1", None),
    ("  near_duplicates: {distance: 40}\n", 5, "data.mnist.validate.near_duplicates.distance",
     "expected a whole number of bits, 0..16", None),
])
def test_mistakes_are_located(text, line, field, problem, hint):
    doc = loads("data:\n mnist:\n  path: data/mnist\n  validate:\n" + "  " + text.replace("\n  ", "\n    "),
                "pipelines/exp.yaml")
    mapping = doc.data["data"]["mnist"]["validate"]
    with pytest.raises(ConfigError) as info:
        ValidationConfig.from_mapping(mapping, doc=doc, where="data.mnist.validate")
    err = info.value
    assert err.file == "pipelines/exp.yaml"
    assert err.line == line
    assert err.field == field
    assert problem in err.problem
    if hint:
        assert err.hint == hint


def test_without_a_document_the_error_still_names_the_field():
    with pytest.raises(ConfigError) as info:
        ValidationConfig.from_mapping({"finit": "warn"})
    assert info.value.file is None and info.value.field == "validate.finit"
    assert info.value.hint == "did you mean `finite`?"


def test_not_a_mapping():
    doc = loads("validate: [leakage]\n", "checks.yaml")
    with pytest.raises(ConfigError, match=r"checks.yaml:1: `validate`: expected a mapping of checks"):
        ValidationConfig.from_mapping(doc.data["validate"], doc=doc)
