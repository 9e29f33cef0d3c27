"""A real PostgreSQL server for the session, and a fresh database for each test that asks for one."""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'stager[postgres]'")

from pg_server import start_server  # noqa: E402  (after the skip: it needs nothing, but the fixtures need psycopg)

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, monkeypatch, tmp_path):
    """A new empty database's URL, set as STAGER_LEDGER_URL with STAGER_HOME in a temp folder."""
    url = pg_server.create_database(f"ledger_{next(_numbers)}")
    monkeypatch.setenv("STAGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STAGER_LEDGER_URL", url)
    return url
