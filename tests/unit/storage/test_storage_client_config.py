"""The one client factory and the transfer configuration: the settings Linode needs, and S3's size limits."""

from __future__ import annotations

import pytest

from stager.errors import UsageError
from stager.storage.s3 import MIB, S3Settings, make_client, transfer_config

SETTINGS = S3Settings("https://us-east-1.objects.localhost", "us-east-1", "AKEXAMPLE", "secret-value-" + "s" * 27)


def test_make_client_sends_checksums_only_when_required():
    client = make_client(SETTINGS, max_pool=48)
    config = client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.max_pool_connections == 48 and config.retries["mode"] == "standard"
    assert client.meta.endpoint_url == "https://us-east-1.objects.localhost"
    assert client.meta.region_name == "us-east-1"


def test_environment_checksum_settings_cannot_undo_it(monkeypatch):
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
    monkeypatch.setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_supported")
    config = make_client(SETTINGS).meta.config
    assert (config.request_checksum_calculation, config.response_checksum_validation) == ("when_required",
                                                                                          "when_required")


def test_transfers_pin_the_classic_client_with_parts_within_s3_limits():
    config = transfer_config()
    assert config.preferred_transfer_client == "classic"
    assert 5 * MIB <= config.multipart_chunksize <= 5 * 1024 * MIB
    assert config.multipart_threshold <= 5 * 10**9 and config.use_threads


@pytest.mark.parametrize("kwargs", [
    {"multipart_chunksize": 4 * MIB},
    {"multipart_chunksize": 6 * 1024 * MIB},
    {"multipart_threshold": 6 * 10**9},
    {"multipart_threshold": 0},
    {"max_concurrency": 0},
])
def test_transfer_settings_outside_s3_limits_are_refused(kwargs):
    with pytest.raises(UsageError):
        transfer_config(**kwargs)


def test_a_malformed_endpoint_is_a_usage_error_without_the_keys():
    with pytest.raises(UsageError, match="cannot use the S3 endpoint") as caught:
        make_client(S3Settings("not a url", None, "AKEXAMPLE", SETTINGS.secret_key))
    assert SETTINGS.secret_key not in str(caught.value)


@pytest.mark.parametrize("size", [64 * MIB, 100 * 1024**3, 4 * 1024**4])
def test_parts_stay_within_s3s_limits_for_any_file_size(size):
    from s3transfer.utils import ChunksizeAdjuster

    from stager.storage.s3 import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

    chunk = ChunksizeAdjuster().adjust_chunksize(transfer_config().multipart_chunksize, size)
    assert MIN_PART_SIZE <= chunk <= MAX_PART_SIZE
    assert -(-size // chunk) <= MAX_PARTS
