"""The build steps a recipe becomes: the same on both targets except what a sandbox cannot do, stated."""

from __future__ import annotations

import shlex
from pathlib import Path

from stager.image.layout import InstanceLayout
from stager.image.recipe import load_recipe
from stager.image.steps import disk_usage_command, plan_steps

ROOT = Path(__file__).resolve().parents[3]
LINODE = InstanceLayout(root="/", sandboxed=False)
SANDBOX = InstanceLayout(root="/tmp/state dir/instances/7/fs", sandboxed=True)


def test_linode_steps_install_everything_in_order(tmp_path):
    recipe = load_recipe(ROOT / "images" / "gold.yaml")
    wheel = tmp_path / "stager-0.1.0-py3-none-any.whl"
    steps = plan_steps(recipe, LINODE, wheel)
    assert all(s.command for s in steps), "nothing is skipped on Linode"
    commands = [s.command for s in steps]
    assert commands[0].startswith("cloud-init status --wait")
    assert "apt-get install -y -q --no-install-recommends python3-venv" in commands[1]
    assert commands[2].startswith("python3 -m venv /opt/stager/venv")
    pip = next(c for c in commands if "torch==2.13.0" in c)
    assert "--index-url https://download.pytorch.org/whl/cu126" in pip and "--no-index" not in pip
    install = next(s for s in steps if s.title.startswith("install stager-"))
    assert install.uploads[0].local == wheel and install.uploads[0].remote == ".stager-build/" + wheel.name
    assert steps[-1].phase == "finalize" and "cloud-init clean" in steps[-1].command
    assert [s.phase for s in steps].index("smoke") > [s.phase for s in steps].index("setup")


def test_sandbox_skips_what_it_cannot_do_and_says_why(tmp_path):
    recipe = load_recipe(ROOT / "images" / "cpu.yaml")
    steps = plan_steps(recipe, SANDBOX, tmp_path / "stager-0.1.0-py3-none-any.whl")
    skipped = {s.title: s.skipped for s in steps if s.command is None}
    assert skipped == {
        "wait for cloud-init": "a sandbox runs no cloud-init",
        "apt install python3-venv": "a sandbox has no package manager",
        "reset cloud-init and SSH keys for the next boot": "a sandbox has no cloud-init; its keys are not on its disk",
    }
    pip = next(s for s in steps if s.title.startswith("pip install"))
    assert "--no-index" in pip.command and "offline" in pip.title
    assert "download.pytorch.org" not in pip.command


def test_paths_with_spaces_are_quoted(tmp_path):
    recipe = load_recipe(ROOT / "images" / "cpu.yaml")
    steps = plan_steps(recipe, SANDBOX, tmp_path / "stager-0.1.0-py3-none-any.whl")
    venv = next(s for s in steps if s.title.startswith("python venv"))
    words = shlex.split(venv.command.split(" && ")[0])
    assert words[-1] == "/tmp/state dir/instances/7/fs/opt/stager/venv"
    placed = next(s for s in steps if s.title.startswith("file "))
    assert shlex.split(placed.command)[-1] == "/tmp/state dir/instances/7/fs/opt/stager/smoke/train.yaml"
    assert shlex.split(disk_usage_command(SANDBOX).split(" | ")[0])[-1] == SANDBOX.root


def test_run_and_smoke_lines_see_the_image_venv(tmp_path):
    recipe = load_recipe(ROOT / "images" / "gold.yaml")
    smoke = [s for s in plan_steps(recipe, LINODE, None) if s.phase == "smoke"]
    assert len(smoke) == len(recipe.smoke)
    for step, line in zip(smoke, recipe.smoke):
        words = shlex.split(step.command)
        assert words[-3:] == ["bash", "-c", line], "the recipe's line reaches bash intact"
        assert "VIRTUAL_ENV=/opt/stager/venv" in words and "PYTHONUNBUFFERED=1" in words
    assert not any(s.title.startswith("install stager") for s in plan_steps(recipe, LINODE, None))
