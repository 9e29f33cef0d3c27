"""Opening targets without a server: names, credentials, and no token in any repr."""

from __future__ import annotations

import pytest

from stager.cloud import CredentialsError, open_target
from stager.errors import UsageError


def test_linode_without_a_token_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("LINODE_TOKEN", raising=False)
    with pytest.raises(CredentialsError) as caught:
        open_target("linode")
    message = str(caught.value)
    assert "LINODE_TOKEN" in message and "export" in message and "profile/tokens" in message
    assert caught.value.exit_code == 2


def test_linode_target_never_shows_its_token(monkeypatch):
    secret = "0123456789abcdef-very-secret-token"
    monkeypatch.setenv("LINODE_TOKEN", secret)
    with open_target("linode") as target:
        assert target.name == "linode" and not target.sandboxed and target.s3_endpoint is None
        assert secret not in repr(target) and secret not in repr(target.cloud) and secret not in str(target)


def test_an_unknown_target_names_the_valid_ones():
    with pytest.raises(UsageError, match="local, linode"):
        open_target("aws")
