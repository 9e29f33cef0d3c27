"""s3:// URLs: what parses, what is refused, and how keys are formed."""

from __future__ import annotations

import pytest

from stager.errors import UsageError
from stager.storage.s3 import S3Location


@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://stager-data", "stager-data", ""),
    ("s3://stager-data/", "stager-data", ""),
    ("s3://stager-data/mnist", "stager-data", "mnist"),
    ("s3://stager-data/team/mnist/v2/", "stager-data", "team/mnist/v2"),
    ("s3://my.bucket-1/a b/c", "my.bucket-1", "a b/c"),
])
def test_valid_urls(url, bucket, prefix):
    location = S3Location.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)


@pytest.mark.parametrize("url, problem", [
    ("stager-data/mnist", "not an S3 URL"),
    ("https://stager-data.us-east-1.objects.localhost/x", "not an S3 URL"),
    ("s3:/stager-data", "not an S3 URL"),
    ("s3://", "names no bucket"),
    ("s3:///mnist", "names no bucket"),
    ("s3://Stager_Data/x", "not a valid bucket name"),
    ("s3://ab/x", "not a valid bucket name"),
    ("s3://a..b/x", "not a valid bucket name"),
    ("s3://127.0.0.1/x", "not a valid bucket name"),
    ("s3://bucket-x/a//b", "empty, '.' or '..' segment"),
    ("s3://bucket-x/a/../b", "empty, '.' or '..' segment"),
    ("s3://bucket-x/.stager", "may not start with a dot"),
    ("s3://bucket-x/a\\b", "control character or a backslash"),
    (None, "not an S3 URL"),
])
def test_malformed_urls_are_usage_errors(url, problem):
    with pytest.raises(UsageError, match=problem) as caught:
        S3Location.parse(url)
    assert "\n" not in str(caught.value)


def test_keys_and_text_form():
    location = S3Location.parse("s3://stager-data/mnist/")
    assert location.key("train/0.png") == "mnist/train/0.png"
    assert location.relative("mnist/train/0.png") == "train/0.png"
    assert location.list_prefix == "mnist/"
    assert str(location) == "s3://stager-data/mnist"
    root = S3Location.parse("s3://stager-data")
    assert root.key("a.txt") == "a.txt" and root.list_prefix == "" and str(root) == "s3://stager-data"
