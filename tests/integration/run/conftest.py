"""Fixtures of the `stager run` tests (the helpers are in run_world.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from run_world import REPO, RunWorld, find_secrets, make_dataset


@pytest.fixture(scope="session")
def run_world_session(tmp_path_factory):
    from stager.emulator import Emulator

    home = tmp_path_factory.mktemp("run-home")
    emulator = Emulator(home / "emulator", rate_limits=False).start()
    data = tmp_path_factory.mktemp("run-data") / "mnist"
    make_dataset(data)
    world = RunWorld(home, emulator, data)
    # The gold image first, so that faults a test injects never hit an image build.
    built = subprocess.run([sys.executable, "-m", "stager", "build-image", str(REPO / "images" / "cpu.yaml")],
                           env=world.env(), capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    yield world
    emulator.stop()


@pytest.fixture
def run_world(run_world_session, tmp_path):
    """The session's run world; after each test: nothing rented left, and no secret in any file stager wrote."""
    world = run_world_session
    yield world
    world.emulator.faults.clear()
    leaked = world.live_instances()
    backend = world.emulator.backend
    firewalls = [f.label for f in backend.firewalls.list_firewalls()]
    keys = [k.label for k in backend.object_storage.list_keys() if k.label != "stager-data"]
    problems = []
    if leaked or firewalls or keys:
        problems.append(f"left behind: instances {leaked}, firewalls {firewalls}, keys {keys}")
    problems += find_secrets(world, [tmp_path, world.home])
    problems += [f"a process's arguments held a secret: {line}" for line in set(world.argument_leaks)]
    world.argument_leaks.clear()
    if problems:
        pytest.fail("; ".join(problems))
