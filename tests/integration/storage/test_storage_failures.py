"""Bad input and broken endpoints give one-line errors of the right type, and never show a secret."""

from __future__ import annotations

import socket

import pytest
from storage_testdata import assert_one_line_without, manifest_of, quiet

from stager.errors import JobFailed, UsageError
from stager.storage.pull import pull_dataset
from stager.storage.s3 import S3Location, S3Settings, make_client, transfer_config
from stager.storage.sync import sync_dataset


def test_every_client_sends_checksums_only_when_required_and_transfers_use_the_classic_client(client):
    config = client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3 == {"addressing_style": "path"} and config.signature_version == "s3v4"
    assert transfer_config().preferred_transfer_client == "classic"
    # And the emulator, like Linode, would have refused the default checksums: this client got through.
    client.put_object(Bucket="stager-sync", Key="probe", Body=b"probe")


def test_a_bucket_that_does_not_exist_is_a_usage_error(dataset, settings, emulator):
    client = make_client(settings)
    with pytest.raises(UsageError, match="bucket no-such-bucket does not exist") as caught:
        sync_dataset(dataset, manifest_of(dataset), S3Location.parse("s3://no-such-bucket/x"), client, say=quiet)
    assert_one_line_without(caught.value, settings.secret_key)


def test_wrong_keys_are_a_usage_error_that_never_shows_them(dataset, emulator, bucket, s3_key):
    wrong = S3Settings(emulator.s3_endpoint, "us-east-1", s3_key.access_key, "not-the-secret-" + "x" * 25)
    unknown = S3Settings(emulator.s3_endpoint, "us-east-1", "AKNOTAKEY0000000", "also-not-a-secret-" + "y" * 22)
    for settings, code in ((wrong, "SignatureDoesNotMatch"), (unknown, "InvalidAccessKeyId")):
        with pytest.raises(UsageError, match=f"refused the Object Storage keys \\({code}\\)") as caught:
            sync_dataset(dataset, manifest_of(dataset), S3Location.parse(f"s3://{bucket}/x"), make_client(settings),
                         say=quiet)
        assert_one_line_without(caught.value, settings.secret_key, settings.access_key, s3_key.secret_key)


def test_an_endpoint_that_does_not_answer_is_a_job_failure(dataset):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = S3Settings(f"http://127.0.0.1:{port}", "us-east-1", "AKEXAMPLE", "secret-" + "z" * 33)
    client = make_client(settings, retries=1, connect_timeout=1)
    with pytest.raises(JobFailed, match=f"cannot reach the S3 endpoint http://127.0.0.1:{port}") as caught:
        sync_dataset(dataset, manifest_of(dataset), S3Location.parse("s3://any-bucket/x"), client, say=quiet)
    assert_one_line_without(caught.value, settings.secret_key)
    with pytest.raises(JobFailed, match="cannot reach"):
        pull_dataset(S3Location.parse("s3://any-bucket/x"), dataset.parent / "out", client, say=quiet)


def test_a_read_only_key_cannot_sync_and_says_so(dataset, emulator, bucket):
    from linode_api4.groups.object_storage import ObjectStorageGroup

    access = [ObjectStorageGroup.bucket_access("us-east", bucket, "read_only")]
    key = emulator.client().object_storage.keys_create("reader", bucket_access=access)
    client = make_client(S3Settings(emulator.s3_endpoint, "us-east-1", key.access_key, key.secret_key))
    with pytest.raises(UsageError, match="access denied") as caught:
        sync_dataset(dataset, manifest_of(dataset), S3Location.parse(f"s3://{bucket}/x"), client, say=quiet)
    assert_one_line_without(caught.value, key.secret_key)


def test_settings_never_show_their_keys(settings):
    assert settings.secret_key not in repr(settings) and settings.access_key not in repr(settings)
    assert "endpoint_url=" in repr(settings)


def test_a_missing_dataset_folder_is_a_usage_error(tmp_path, dataset, client, location):
    with pytest.raises(UsageError, match="no such dataset folder"):
        sync_dataset(tmp_path / "nope", manifest_of(dataset), location, client, say=quiet)
