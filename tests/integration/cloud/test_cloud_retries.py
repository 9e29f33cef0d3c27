"""Rate limits, server errors and credentials: retried where safe, reported in one line, never the token."""

from __future__ import annotations

import time

import pytest

from stager.cloud import CloudError, CredentialsError


def test_a_429_that_escapes_linode_api4_waits_its_retry_after(emulator, cloud_for):
    cloud = cloud_for(emulator.client(retry=False))  # linode_api4 gives up at once: stager must wait
    emulator.faults.fail_next(1, 429, method="GET", path_prefix="/linode/instances", retry_after=1)
    started = time.monotonic()
    assert cloud.list_instances() == []
    assert time.monotonic() - started >= 0.95
    assert emulator.faults.api_failures == []


def test_429s_beyond_linode_api4s_own_retries_are_retried_again(emulator, cloud_for):
    cloud = cloud_for(emulator.client(retry_rate_limit_interval=0.01))
    # linode_api4 tries 6 times; the 7th failure reaches stager, whose retry succeeds.
    emulator.faults.fail_next(7, 429, method="GET", path_prefix="/images", retry_after=0)
    assert cloud.list_images() == []
    assert emulator.faults.api_failures == []


def test_a_rate_limit_that_does_not_end_is_reported(emulator, cloud_for):
    cloud = cloud_for(emulator.client(retry=False))
    emulator.faults.fail_next(100, 429, method="GET", path_prefix="/volumes", retry_after=0)
    with pytest.raises(CloudError, match="listing volumes failed: Linode's rate limit was hit") as caught:
        cloud.list_volumes()
    assert caught.value.status == 429


def test_delete_retries_server_errors(emulator, cloud, make_spec):
    info = cloud.create_instance(make_spec())
    emulator.faults.fail_next(2, 500, method="DELETE")  # not retried by linode_api4: by stager
    assert cloud.delete_instance(info.id) is True
    assert cloud.get_instance(info.id) is None


def test_a_delete_that_keeps_failing_says_how_to_finish_it(emulator, cloud, make_spec):
    info = cloud.create_instance(make_spec())
    emulator.faults.fail_next(20, 500, method="DELETE")
    with pytest.raises(CloudError) as caught:
        cloud.delete_instance(info.id)
    message = str(caught.value)
    assert f"deleting instance {info.id} failed" in message and f"linode-cli linodes delete {info.id}" in message
    emulator.faults.clear()
    assert cloud.delete_instance(info.id) is True


def test_a_wrong_token_is_a_credentials_error_without_the_token(emulator, cloud_for):
    wrong = "wrong-token-0123456789abcdef0123456789"
    cloud = cloud_for(emulator.client(token=wrong))
    with pytest.raises(CredentialsError) as caught:
        cloud.list_instances()
    error = caught.value
    assert "refused the API token" in str(error) and "LINODE_TOKEN" in str(error)
    assert wrong not in str(error) and wrong not in repr(error) and wrong not in repr(cloud)
    # Nothing chained: the linode_api4 error (and its request's Authorization header) is unreachable.
    assert error.__context__ is None and error.__cause__ is None


def test_a_token_without_the_scope_is_a_credentials_error(emulator, cloud_for):
    token = emulator.add_token("images:read_only", label="images-only")
    cloud = cloud_for(emulator.client(token=token))
    assert cloud.list_images() == []
    with pytest.raises(CredentialsError, match="not allowed"):
        cloud.list_instances()


def test_failed_calls_carry_no_secret(emulator, cloud, make_spec):
    spec = make_spec(image="private/424242", user_data="#cloud-config\n# secret-user-data-marker\n")
    with pytest.raises(CloudError) as caught:
        cloud.create_instance(spec)
    error = caught.value
    assert "creating instance stager-r1-train-0" in str(error) and "private/424242" in str(error)
    assert error.__context__ is None and error.__cause__ is None
    for text in (str(error), repr(error), repr(cloud), repr(spec)):
        assert emulator.token not in text and "root_pass" not in text and "secret-user-data-marker" not in text
