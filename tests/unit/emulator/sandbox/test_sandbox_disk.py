"""Capturing, restoring and measuring a sandbox's disk; restoring uploaded images safely."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from stager.emulator.sandbox import (
    capture_disk,
    measure_disk,
    restore_disk,
    restore_disk_from_archive,
)


@pytest.fixture
def sandbox_root(make_host, tmp_path) -> Path:
    """A sandbox root with files, modes, links, tmp content and an attached volume."""
    host = make_host(start=False)
    root = host.root
    home = root / "root"
    (home / "venv" / "bin").mkdir(parents=True)
    (home / "venv" / "bin" / "python").write_text("#!/bin/sh\n")
    (home / "venv" / "bin" / "python").chmod(0o755)
    (home / "secret").write_bytes(b"k" * 1000)
    (home / "secret").chmod(0o600)
    os.utime(home / "secret", (1_000_000, 1_000_000))
    os.symlink("venv/bin/python", home / "py")
    os.symlink(str(home / "secret"), home / "abs-link")  # absolute, inside the sandbox
    (root / "tmp" / "scratch").write_bytes(b"s" * 50)
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "big.bin").write_bytes(b"v" * 5000)
    host.attach_volume("data", volume)
    return root


def test_measure_disk_counts_regular_files_and_skips_volumes(sandbox_root):
    assert measure_disk(sandbox_root) == len("#!/bin/sh\n") + 1000 + 50


def test_capture_restore_round_trip(sandbox_root, tmp_path):
    image = tmp_path / "image"
    size = capture_disk(sandbox_root, image)
    assert size == len("#!/bin/sh\n") + 1000  # no tmp content, no volume
    assert os.listdir(image / "dev" / "disk" / "by-id") == []
    assert os.listdir(image / "mnt") == []
    assert os.listdir(image / "tmp") == []

    # The image is a copy: later changes to the sandbox do not reach it.
    (sandbox_root / "root" / "secret").write_bytes(b"changed")
    assert (image / "root" / "secret").read_bytes() == b"k" * 1000

    new_root = tmp_path / "new-sandbox"
    restore_disk(image, new_root)
    home = new_root / "root"
    assert (home / "venv" / "bin" / "python").stat().st_mode & 0o777 == 0o755
    assert (home / "secret").stat().st_mode & 0o777 == 0o600
    assert (home / "secret").stat().st_mtime == 1_000_000
    assert os.readlink(home / "py") == "venv/bin/python"
    assert os.readlink(home / "abs-link") == "secret"  # made relative, so it follows the disk
    assert (home / "abs-link").read_bytes() == b"k" * 1000
    assert (new_root / "dev" / "disk" / "by-id").is_dir()


def test_capture_refuses_a_non_empty_destination(sandbox_root, tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "x").write_text("x")
    with pytest.raises(FileExistsError):
        capture_disk(sandbox_root, tmp_path / "image")


def _tar_gz(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return io.BytesIO(gzip.compress(raw.getvalue()))


def _file(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_archive_restore_extracts_a_tar(tmp_path):
    archive = _tar_gz(_file("root/model.pt", b"w" * 300), _link("root/latest", "model.pt"))
    uncompressed = len(gzip.decompress(archive.getvalue()))
    count = restore_disk_from_archive(archive, tmp_path / "root", max_uncompressed=10**6)
    assert count == uncompressed
    assert (tmp_path / "root" / "root" / "latest").read_bytes() == b"w" * 300
    assert (tmp_path / "root" / "tmp").is_dir()


@pytest.mark.parametrize(
    "member",
    [
        _file("../evil"),
        _file("root/../../evil"),
        _file("/etc/evil"),
        _link("root/escape", "../../.."),
        _link("root/abs", "/etc"),
        _link("root/hard", "../../etc/passwd", tarfile.LNKTYPE),
        (tarfile.TarInfo("dev/null"), None),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-up", "symlink-abs", "hardlink-up", "device"],
)
def test_archive_restore_refuses_unsafe_members(tmp_path, member):
    if member[0].name == "dev/null":
        member[0].type = tarfile.CHRTYPE
    target = tmp_path / "sandbox"
    with pytest.raises(ValueError):
        restore_disk_from_archive(_tar_gz(member), target, max_uncompressed=10**6)
    assert not (tmp_path / "evil").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox"]


def test_raw_image_becomes_disk_img(tmp_path):
    data = b"\x00" * 2048 + b"raw disk"
    count = restore_disk_from_archive(io.BytesIO(gzip.compress(data)), tmp_path / "sb", max_uncompressed=10**6)
    assert count == len(data)
    assert (tmp_path / "sb" / "disk.img").read_bytes() == data


def test_uncompressed_size_limit_is_enforced_while_streaming(tmp_path):
    bomb = io.BytesIO(gzip.compress(b"\x00" * 5_000_000))
    with pytest.raises(ValueError, match="image is larger than 1000000 bytes uncompressed"):
        restore_disk_from_archive(bomb, tmp_path / "sb", max_uncompressed=1_000_000)
    assert measure_disk(tmp_path / "sb") <= 1_000_000 + (1 << 20)


def test_not_gzip_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a valid gzip"):
        restore_disk_from_archive(io.BytesIO(b"plain bytes"), tmp_path / "sb", max_uncompressed=10**6)
