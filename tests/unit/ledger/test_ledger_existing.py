"""`existing_ledger`: the ledger a reading command opens, refused when there is none, never created."""

from __future__ import annotations

import pytest

from stager.errors import UsageError
from stager.ledger.location import LEDGER_FILE, existing_ledger


def test_a_missing_ledger_is_refused_without_creating_it(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGER_HOME", str(tmp_path))
    monkeypatch.delenv("STAGER_LEDGER_URL", raising=False)
    with pytest.raises(UsageError, match=f"no run r-1: there is no ledger at {tmp_path / LEDGER_FILE} yet"):
        existing_ledger(None, "r-1")
    assert not (tmp_path / LEDGER_FILE).exists()


def test_a_given_file_or_a_database_url_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGER_HOME", str(tmp_path))
    given = tmp_path / "copy.sqlite"
    given.write_bytes(b"")
    assert existing_ledger(given, "r-1") == given
    monkeypatch.setenv("STAGER_LEDGER_URL", "postgresql://stager@127.0.0.1:5432/ledger")
    assert existing_ledger(None, "r-1") == tmp_path / LEDGER_FILE  # the default, which the URL stands for
