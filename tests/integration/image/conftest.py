"""A local target on the session's emulator, and recipes written for one test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def local_target(emulator):
    from stager.cloud import Backoff, CloudTarget, LinodeCloud

    return CloudTarget(name="local", cloud=LinodeCloud(emulator.client(), poll=Backoff(0.02, 0.3)),
                       sandboxed=True, s3_endpoint=emulator.s3_endpoint)


@pytest.fixture
def write_recipe(tmp_path):
    """``write_recipe(body)`` -> path of a recipe with a base and builder, plus ``body``."""

    def write(body: str, name: str = "t", stager: str = "none") -> Path:
        path = tmp_path / "images" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {name}\nbase: linode/ubuntu24.04\nbuilder: {{type: g6-nanode-1, region: us-east}}\n"
                        f"stager: {stager}\n" + textwrap.dedent(body))
        return path

    return write


@pytest.fixture
def instance_creations(emulator):
    """``instance_creations()`` -> how many instances the emulator was asked to create (its linode_create events)."""
    return lambda: sum(1 for e in emulator.client().account.events() if e.action == "linode_create")
