"""The recipe hash changes exactly when the image would; the stager wheel is reproducible and installable."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from stager.image.fingerprint import hash_tag, recipe_hash
from stager.image.recipe import load_recipe
from stager.image.wheel import build_wheel

RECIPE = """\
name: tiny
description: {description}
base: linode/ubuntu24.04
builder: {{type: g6-nanode-1, region: us-east}}
files: [{{src: data.txt, dest: /etc/data.txt}}]
smoke: ["{smoke}"]
timeouts: {{boot: {boot}}}
"""


def recipe_at(folder: Path, *, description="one", smoke="true", boot=60, data="a"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.txt").write_text(data)
    path = folder / "r.yaml"
    path.write_text(RECIPE.format(description=description, smoke=smoke, boot=boot))
    return load_recipe(path)


def test_hash_ignores_what_does_not_reach_the_image(tmp_path):
    base = recipe_hash(recipe_at(tmp_path / "a"), "w1")
    assert recipe_hash(recipe_at(tmp_path / "b", description="two", boot=999), "w1") == base


def test_hash_follows_content(tmp_path):
    base = recipe_hash(recipe_at(tmp_path / "a"), "w1")
    assert recipe_hash(recipe_at(tmp_path / "b", smoke="false"), "w1") != base
    assert recipe_hash(recipe_at(tmp_path / "c", data="b"), "w1") != base  # a referenced file's bytes
    assert recipe_hash(recipe_at(tmp_path / "a"), "w2") != base  # another stager


def test_hash_tag_fits_linode_tags():
    tag = hash_tag("ab" * 32)
    assert tag.startswith("recipe:") and 3 <= len(tag) <= 50


def test_wheel_is_reproducible_and_complete():
    first, second = build_wheel(), build_wheel()
    assert first.data == second.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    assert "stager/train/trainer.py" in names and "stager/__main__.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    record = zipfile.ZipFile(io.BytesIO(first.data)).read(f"stager-{first.filename.split('-')[1]}.dist-info/RECORD")
    assert b"stager/train/trainer.py,sha256=" in record
