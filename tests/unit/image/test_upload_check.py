"""Disk images are checked for gzip format, completeness and Linode's limits before upload."""

from __future__ import annotations

import gzip

import pytest

from stager.errors import UsageError
from stager.image.upload import check_upload


def test_valid_gzip(tmp_path):
    path = tmp_path / "disk.img.gz"
    path.write_bytes(gzip.compress(b"\0" * 100_000))
    checked = check_upload(path)
    assert checked.uncompressed_bytes == 100_000
    assert checked.compressed_bytes == path.stat().st_size


def test_not_gzip(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"raw disk")
    with pytest.raises(UsageError, match="not a gzip file.*gzip -k"):
        check_upload(path)


def test_truncated(tmp_path):
    path = tmp_path / "disk.img.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 4000)[:-20])
    with pytest.raises(UsageError, match="truncated or corrupt"):
        check_upload(path)


def test_limits(tmp_path):
    path = tmp_path / "disk.img.gz"
    path.write_bytes(gzip.compress(b"\0" * 50_000))
    with pytest.raises(UsageError, match="uncompressed"):
        check_upload(path, max_uncompressed=10_000)
    with pytest.raises(UsageError, match="compressed, over"):
        check_upload(path, max_compressed=10)


def test_missing(tmp_path):
    with pytest.raises(UsageError, match="file not found"):
        check_upload(tmp_path / "nope.img.gz")
