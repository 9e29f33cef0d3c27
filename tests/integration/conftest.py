"""The `stager run` world shared by the run and UI tests: one emulator and one gold image for the session.

The helpers are in run/run_world.py; the run tests' per-test fixtures are in run/conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "run"))

from run_world import REPO, RunWorld, make_dataset  # noqa: E402


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
