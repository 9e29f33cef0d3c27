"""Fixtures of the `stager run` tests (the helpers are in run_world.py; the session's world, run_world_session,
is in tests/integration/conftest.py, shared with the UI tests)."""

from __future__ import annotations

import pytest
from diff_world import run_once
from run_world import find_secrets, run_json


@pytest.fixture(scope="session")
def small_run(run_world_session, tmp_path_factory):
    """One small finished run (diff_world.run_once's defaults) shared read-only by the modules that only read it:
    (its folder, its id). Its runs folder is ``folder / "runs"``. A test that changes it must put it back."""
    folder = tmp_path_factory.mktemp("small-run")
    run_id = run_once(run_world_session, folder)
    assert find_secrets(run_world_session, [folder]) == []  # as run_world checks a test's own tmp_path
    return folder, run_id


@pytest.fixture(scope="session")
def two_epoch_run(run_world_session, tmp_path_factory):
    """One real run of two epochs of twenty batches, shared read-only by test_run_pipeline and test_runs_report:
    (its folder, the finished ``stager run`` process, its id). Its runs folder is ``folder / "runs"``."""
    world = run_world_session
    folder = tmp_path_factory.mktemp("two-epoch-run")
    done = world.run(folder, str(world.pipeline(folder, epochs=2, batches=20)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert find_secrets(world, [folder]) == []  # as run_world checks a test's own tmp_path
    return folder, done, run_json(folder)["run_id"]


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
