"""Fixtures shared by every test folder: one real emulator per session, reset between tests.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml):
most of its time is spent waiting on SSH, sandboxes and servers, not computing. Each
worker has its own session fixtures (emulator, gold image). Tests go to whichever worker
is free, except that the tests of a file using a module-scoped fixture share a worker (so
the fixture is made once), and so do all tests of one real server (the SLURM cluster, the
PostgreSQL server), so that each is started once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ONE_WORKER_FOLDERS = ("integration/slurm", "integration/ledger_pg")  # one real server each, started once
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        where = item.path.resolve().relative_to(_TESTS).as_posix()
        group = next((folder for folder in _ONE_WORKER_FOLDERS if where.startswith(folder + "/")), None)
        if group is None and _uses_wider_fixtures(item):
            group = where
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _uses_wider_fixtures(item) -> bool:
    """Whether ``item`` uses a fixture made once per module, class or package (made again on each worker)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", None)
    if definitions is None:  # another pytest: keep the file together, to be safe
        return True
    return any(d.scope in ("module", "class", "package") for defs in definitions.values() for d in defs)


@pytest.fixture(scope="session")
def emulator_session(tmp_path_factory):
    from stager.emulator import Emulator

    emulator = Emulator(tmp_path_factory.mktemp("emulator"), rate_limits=False).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_session):
    """The session's emulator, emptied after each test; a test that leaks an instance fails."""
    yield emulator_session
    emulator_session.settle()
    leaked = [i.label for i in emulator_session.backend.instances.list_instances()]
    emulator_session.faults.clear()
    emulator_session.reset()
    if leaked:
        pytest.fail(f"the test left instances behind: {leaked}")


@pytest.fixture(autouse=True)
def no_leaked_environment():
    """A test that changes os.environ without restoring it would change every later test."""
    before = dict(os.environ)
    yield
    after = dict(os.environ)
    # pytest's own; torch's compile cache; what seed_everything and deterministic
    # training set for the whole process on purpose (Lightning sets the same, so
    # spawned workers inherit them).
    for name in ("PYTEST_CURRENT_TEST", "TORCHINDUCTOR_CACHE_DIR", "CUBLAS_WORKSPACE_CONFIG",
                 "PYTHONHASHSEED", "STAGER_GLOBAL_SEED", "STAGER_SEED_WORKERS"):
        before.pop(name, None)
        after.pop(name, None)
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        os.environ.clear()
        os.environ.update(before)
        pytest.fail(f"the test changed environment variables: {changed}")


@pytest.fixture(scope="session")
def ssh_key():
    """A client key pair: (paramiko key, OpenSSH public key line)."""
    from stager.emulator.sandbox import new_host_key

    key = new_host_key()
    return key, f"{key.get_name()} {key.get_base64()}"
