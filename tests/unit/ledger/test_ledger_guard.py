"""The secret guard: the ledger refuses anything that looks like a credential, and anything not plain JSON."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from stager.ledger import check_data, is_secret_key

SECRET_KEYS = ["token", "LINODE_TOKEN", "linodeToken", "access_token", "secret", "client_secret", "secret_key",
               "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "password", "db-password", "passwd", "passphrase",
               "root_pass", "rootPass", "private_key", "privateKey", "ssh-private-key", "Authorization", "api_key",
               "x-api-key", "WANDB_API_KEY", "apikey", "APIKey", "HF_TOKEN", "auth_token"]
PLAIN_KEYS = ["tokenizer", "max_tokens", "max_new_tokens", "pad_token", "eos_token", "token_id", "pad_token_id",
              "access_key_id", "aws_access_key_id", "key", "ssh_public_key", "author", "secretary", "passes",
              "private", "bucket", "label", "credentials_file"]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_looking_keys(key):
    assert is_secret_key(key)
    with pytest.raises(ValueError, match="looks like a secret"):
        check_data({key: "s3cr3t-value"}, "spec")


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_plain_keys(key):
    assert not is_secret_key(key)
    check_data({key: "value"}, "spec")


@pytest.mark.parametrize("value", [None, "", True, False, "[REDACTED]", "<redacted>", "***", "****abcd",
                                   "${LINODE_TOKEN}", {"nested": "[REDACTED]"}, ["***", None]])
def test_redacted_values_under_secret_keys_pass(value):
    check_data({"token": value, "root_pass": value}, "spec")


def test_the_error_names_the_path_and_never_the_value():
    spec = {"train": {"loggers": [{"wandb": {"project": "p", "api_key": "abc123supersecret"}}]}}
    with pytest.raises(ValueError) as caught:
        check_data(spec, "spec")
    message = str(caught.value)
    assert "spec.train.loggers[0].wandb.api_key" in message and "abc123supersecret" not in message


@pytest.mark.parametrize("value", [{"secrets": {"wandb": "raw"}}, {"password": ["a", "b"]}, {"token": 1234567}])
def test_secret_containers_and_numbers_are_refused(value):
    with pytest.raises(ValueError, match="looks like a secret"):
        check_data(value, "data")


@pytest.mark.parametrize("text", [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "curl -H 'Authorization: Bearer 0123456789abcdef0123'",
    "Basic dXNlcjpwYXNzd29yZA==",
])
def test_secret_text_is_refused_under_any_key(text):
    with pytest.raises(ValueError, match="private key or an HTTP credential"):
        check_data({"note": [text]}, "event")


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), {1, 2}, Path("x"), b"bytes", {1: "int key"}, object()])
def test_values_that_are_not_plain_json_are_refused(value):
    with pytest.raises(ValueError, match="plain JSON"):
        check_data({"field": value}, "data")


def test_plain_json_passes():
    check_data({"a": [1, 2.5, float("nan"), None, True, "text", {"b": []}], "c": (1, 2)}, "data")


def test_the_ledger_refuses_secrets_everywhere_and_writes_nothing(ledger, make_run):
    with pytest.raises(ValueError, match="spec.storage.secret_key"):
        make_run(spec={"storage": {"bucket": "b", "secret_key": "AKIA/raw"}})
    with pytest.raises(ValueError, match="versions"):
        make_run(versions={"stager": "0.1", "token": "t"})
    with pytest.raises(ValueError, match="git.token"):
        make_run(git={"commit": "abc", "dirty": False, "token": "ghp_x"})
    assert ledger.runs() == []
    run_id = make_run(spec={"linode": {"token": "[REDACTED]"}})
    with pytest.raises(ValueError, match="ssh.password"):
        ledger.event(run_id, "ssh.connected", {"host": "127.0.0.1", "ssh": {"password": "hunter2"}})
    with pytest.raises(ValueError, match="reason"):
        ledger.transition(run_id, "failed", reason="401 from API with Authorization: Bearer abcdefghijklmnop")
    assert ledger.run(run_id).spec == {"linode": {"token": "[REDACTED]"}}
    assert [e.kind for e in ledger.run(run_id).events] == []
