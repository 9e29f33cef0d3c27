"""Recipes: the shipped ones load; every kind of mistake is one located ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from stager.errors import EXIT_USAGE, ConfigError
from stager.image.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
name: tiny
base: linode/ubuntu24.04
builder: {type: g6-nanode-1, region: us-east}
pip: [numpy]
files:
  - {src: hello.txt, dest: /etc/hello.txt, mode: "0600"}
run: ["echo hi"]
smoke: ["true"]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hello.txt").write_text("hello\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["cpu.yaml", "gold.yaml"])
def test_shipped_recipes_load(name):
    recipe = load_recipe(ROOT / "images" / name)
    assert recipe.base == "linode/ubuntu24.04"
    assert recipe.stager == "wheel"
    assert any("torch==2.13.0" == p for p in recipe.pip.packages)
    assert all(f.src.is_file() for f in recipe.files)


def test_good_recipe_fields(tmp_path):
    recipe = load_recipe(write(tmp_path, GOOD))
    assert (recipe.name, recipe.builder_type, recipe.builder_region) == ("tiny", "g6-nanode-1", "us-east")
    assert recipe.files[0].dest == "/etc/hello.txt" and recipe.files[0].mode == 0o600
    assert recipe.files[0].src == (tmp_path / "hello.txt").resolve()
    assert recipe.run == ("echo hi",) and recipe.smoke == ("true",)


@pytest.mark.parametrize(
    ("change", "line", "field", "words"),
    [
        (("run:", "runn:"), 7, "runn", "did you mean `run`"),                       # unknown key
        (("builder: {type: g6-nanode-1, region: us-east}", "builder: {type: g6-nanode-1, regoin: us-east}"),
         3, "builder.regoin", "did you mean `region`"),
        (("pip: [numpy]", "pip: numpy"), 4, "pip", "expected a list of requirements"),  # wrong type
        (('run: ["echo hi"]', "run: echo hi"), 7, "run", "expected a list of strings"),
        (('smoke: ["true"]', "smoke: [3]"), 8, "smoke.0", "expected a non-empty string"),
        (("src: hello.txt", "src: missing.txt"), 6, "files.0.src", "file not found: missing.txt"),
        (("dest: /etc/hello.txt", "dest: etc/hello.txt"), 6, "files.0.dest", "invalid destination"),
        (("name: tiny", "name: Tiny Image"), 1, "name", "invalid name"),
        (("base: linode/ubuntu24.04", "base: ubuntu"), 2, "base", "invalid base image"),
        (('mode: "0600"', 'mode: "rwx"'), 6, "files.0.mode", "invalid mode"),
    ],
)
def test_each_mistake_is_located(tmp_path, change, line, field, words):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    err = caught.value
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert words in str(err)
    assert err.hint, "every recipe error carries a hint"
    assert err.exit_code == EXIT_USAGE
    assert "\n" not in str(err)


def test_missing_required_key(tmp_path):
    path = write(tmp_path, GOOD.replace("base: linode/ubuntu24.04\n", ""))
    with pytest.raises(ConfigError, match=r"missing `base`.*linode/ubuntu24.04"):
        load_recipe(path)


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_recipe(tmp_path / "nope.yaml")
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path, GOOD + "description: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)
    assert not (tmp_path / "pwned").exists()
