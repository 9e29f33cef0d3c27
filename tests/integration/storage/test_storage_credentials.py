"""Endpoint and keys per target: the local emulator's own key (made, cached 0600, renewed), env, credentials.yaml."""

from __future__ import annotations

import json
import stat

import pytest
from storage_testdata import manifest_of

from stager.cloud import Backoff, CredentialsError, LinodeCloud
from stager.errors import UsageError
from stager.storage.credentials import LOCAL_KEY_FILE, bucket_endpoint, resolve_settings
from stager.storage.s3 import S3Location, make_client
from stager.storage.sync import sync_dataset

KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def no_key_variables(monkeypatch):
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def here(bucket) -> S3Location:
    return S3Location.parse(f"s3://{bucket}/data")


def stager_keys(emulator) -> list:
    return [k for k in emulator.client().object_storage.keys() if k.label == "stager-data"]


def test_the_local_target_makes_a_key_caches_it_privately_and_reuses_it(tmp_path, emulator, here, dataset,
                                                                         no_key_variables):
    settings, close = resolve_settings("local", here, home=tmp_path / "home", state_dir=emulator.state_dir)
    close()
    cache = tmp_path / "home" / LOCAL_KEY_FILE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert settings.endpoint_url == emulator.s3_endpoint
    assert settings.secret_key not in repr(settings)

    again, close = resolve_settings("local", here, home=tmp_path / "home", state_dir=emulator.state_dir)
    close()
    assert (again.access_key, again.secret_key) == (settings.access_key, settings.secret_key)
    assert len(stager_keys(emulator)) == 1
    result = sync_dataset(dataset, manifest_of(dataset), here, make_client(again), say=lambda line: None)
    assert result.verified == 24


def test_a_key_the_emulator_no_longer_knows_is_made_again(tmp_path, emulator, here, no_key_variables):
    first, close = resolve_settings("local", here, home=tmp_path, state_dir=emulator.state_dir)
    close()
    for key in stager_keys(emulator):
        key.delete()

    second, close = resolve_settings("local", here, home=tmp_path, state_dir=emulator.state_dir)
    close()

    assert second.access_key != first.access_key
    assert [k.access_key for k in stager_keys(emulator)] == [second.access_key]
    cached = json.loads((tmp_path / LOCAL_KEY_FILE).read_text())
    assert [v["access_key"] for v in cached.values()] == [second.access_key]
    make_client(second).head_bucket(Bucket=here.bucket)


def test_keys_from_the_environment_win_and_must_come_in_pairs(tmp_path, emulator, here, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    settings, close = resolve_settings("local", here, home=tmp_path, state_dir=emulator.state_dir)
    close()
    assert (settings.access_key, settings.secret_key) == ("AKFROMENV", "secret-from-env")
    assert not (tmp_path / LOCAL_KEY_FILE).exists()

    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UsageError, match="AWS_SECRET_ACCESS_KEY is not set while its pair is"):
        resolve_settings("s3", here, endpoint_url="https://objects.example.com", home=tmp_path)


def test_an_endpoint_url_takes_keys_from_the_private_credentials_file(tmp_path, here, no_key_variables):
    path = tmp_path / "credentials.yaml"
    path.write_text("object_storage:\n  access_key: AKFROMFILE\n  secret_key: very-secret-value\n")
    path.chmod(0o600)
    settings, close = resolve_settings("linode", here, endpoint_url="https://us-ord-1.objects.localhost",
                                       home=tmp_path)
    close()
    assert settings.endpoint_url == "https://us-ord-1.objects.localhost"
    assert (settings.access_key, settings.secret_key) == ("AKFROMFILE", "very-secret-value")

    path.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        resolve_settings("linode", here, endpoint_url="https://us-ord-1.objects.localhost", home=tmp_path)
    path.chmod(0o600)
    path.write_text("object_storage: [very-secret-value\n")
    with pytest.raises(UsageError, match="not valid YAML") as caught:
        resolve_settings("linode", here, endpoint_url="https://us-ord-1.objects.localhost", home=tmp_path)
    assert "very-secret-value" not in str(caught.value)
    path.write_text("object_storage:\n  access_key: only-half\n")
    with pytest.raises(UsageError, match="expected `object_storage"):
        resolve_settings("linode", here, endpoint_url="https://us-ord-1.objects.localhost", home=tmp_path)


def test_bad_endpoints_targets_and_missing_keys_are_usage_errors(tmp_path, here, no_key_variables, monkeypatch):
    with pytest.raises(UsageError, match="is not an endpoint URL"):
        resolve_settings("local", here, endpoint_url="ftp://example.com", home=tmp_path)
    with pytest.raises(UsageError, match="no Object Storage keys"):
        resolve_settings("local", here, endpoint_url="https://objects.example.com", home=tmp_path)
    with pytest.raises(UsageError, match="unknown target"):
        resolve_settings("aws", here, home=tmp_path)
    with pytest.raises(UsageError, match="no Object Storage keys for target linode"):
        resolve_settings("linode", here, home=tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("LINODE_TOKEN", raising=False)
    with pytest.raises(CredentialsError, match="LINODE_TOKEN"):
        resolve_settings("linode", here, home=tmp_path)


def test_a_buckets_endpoint_comes_from_the_linode_api(emulator, bucket):
    cloud = LinodeCloud(emulator.client(), poll=Backoff(0.02, 0.2))
    assert bucket_endpoint(cloud, bucket) == (emulator.s3_endpoint, "us-east-1")
    with pytest.raises(UsageError, match="bucket not-mine is not in this Linode account"):
        bucket_endpoint(cloud, "not-mine")
