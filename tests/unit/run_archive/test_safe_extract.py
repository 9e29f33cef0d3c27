"""pack and safe_extract: a round trip, and every kind of member that must be refused."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from stager.errors import JobFailed
from stager.run.archive import UnsafeArchive, pack, safe_extract


def _tree(root: Path) -> dict[str, bytes | None]:
    """Relative path -> bytes (None for a folder), symlinks included as their target."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = f"-> {os.readlink(path)}".encode()
            else:
                found[rel] = None if path.is_dir() else path.read_bytes()
    return found


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, body in members:
            if body is not None:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.fixture
def outputs(tmp_path) -> Path:
    root = tmp_path / "out"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "last.ckpt").write_bytes(os.urandom(5000))
    (root / "logs" / "version_0").mkdir(parents=True)
    (root / "logs" / "version_0" / "metrics.csv").write_text("step,loss\n1,0.5\n")
    (root / "empty").mkdir()
    (root / "README").write_text("hello\n")
    return root


@pytest.mark.parametrize("legacy", [False, True], ids=["data-filter", "no-filter"])
def test_round_trip(outputs, tmp_path, monkeypatch, legacy):
    if legacy:  # Python 3.10 without the extraction filters
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = tmp_path / "outputs.tar.gz"
    pack(outputs, archive)
    dest = tmp_path / "back"
    written = safe_extract(archive, dest)
    assert _tree(dest) == _tree(outputs)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == [
        "README", "checkpoints/last.ckpt", "logs/version_0/metrics.csv"]
    assert all(p.is_file() for p in written)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".extract")]


def test_pack_skips_symlinks_and_uses_relative_names(outputs, tmp_path):
    (outputs / "passwd").symlink_to("/etc/passwd")
    (outputs / "loop").symlink_to(outputs, target_is_directory=True)
    archive = outputs / "self.tar.gz"  # inside the packed folder: left out of itself
    pack(outputs, archive)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert all(not m.issym() and not m.islnk() for m in tar.getmembers())
    assert "passwd" not in names and "loop" not in names and "self.tar.gz" not in names
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
    assert "checkpoints/last.ckpt" in names and "empty" in names


def test_hard_linked_files_are_packed_as_files(outputs, tmp_path):
    os.link(outputs / "README", outputs / "checkpoints" / "README-again")
    archive = tmp_path / "a.tar.gz"
    pack(outputs, archive)
    dest = tmp_path / "dest"
    safe_extract(archive, dest)
    assert (dest / "checkpoints" / "README-again").read_text() == "hello\n"
    assert _tree(dest) == _tree(outputs)


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_an_archive_made_by_tar_on_the_instance(outputs, tmp_path):
    """The engine packs ``out/`` with ``tar -czf outputs.tar.gz -C out .``: names start with ``./``."""
    archive = tmp_path / "outputs.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(outputs), "."], check=True)
    dest = tmp_path / "dest"
    written = safe_extract(archive, dest)
    assert _tree(dest) == _tree(outputs)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == [
        "README", "checkpoints/last.ckpt", "logs/version_0/metrics.csv"]


def test_extract_merges_into_existing_dest(outputs, tmp_path):
    archive = tmp_path / "a.tar.gz"
    pack(outputs, archive)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    (dest / "README").write_text("old")
    safe_extract(archive, dest)
    assert (dest / "keep.txt").read_text() == "mine"
    assert (dest / "README").read_text() == "hello\n"


REFUSED = {  # case -> (members after a good file, the member refused, words in the message)
    "absolute": (lambda: [(_file("/tmp/stager-evil"), b"x")], "/tmp/stager-evil", "absolute"),
    "dotdot": (lambda: [(_file("../x"), b"x")], "../x", "'..'"),
    "dotdot-inside": (lambda: [(_file("a/../../x"), b"x")], "a/../../x", "'..'"),
    "symlink": (lambda: [(_special("passwd", tarfile.SYMTYPE, "/etc/passwd"), None)], "passwd", "link"),
    "hardlink": (lambda: [(_file("a"), b"x"), (_special("b", tarfile.LNKTYPE, "a"), None)], "b", "link"),
    "symlink-then-file": (lambda: [(_special("d", tarfile.SYMTYPE, "/tmp"), None),
                                   (_file("d/stager-evil"), b"x")], "d", "link"),
    "char-device": (lambda: [(_special("null", tarfile.CHRTYPE), None)], "null", "device"),
    "block-device": (lambda: [(_special("sda", tarfile.BLKTYPE), None)], "sda", "device"),
    "fifo": (lambda: [(_special("pipe", tarfile.FIFOTYPE), None)], "pipe", "fifo"),
}


@pytest.mark.parametrize("dest_exists", [False, True], ids=["new-dest", "existing-dest"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_leave_dest_untouched(tmp_path, case, dest_exists):
    members, refused, why = REFUSED[case]
    # a good file first: a refusal must come before anything is written
    archive = _archive(tmp_path / "bad.tar.gz", (_file("good.txt"), b"fine"), *members())
    dest = tmp_path / "dest"
    if dest_exists:
        dest.mkdir()
        (dest / "mine.txt").write_text("untouched")
    before = _tree(dest) if dest_exists else None
    with pytest.raises(UnsafeArchive) as caught:
        safe_extract(archive, dest)
    message = str(caught.value)
    assert isinstance(caught.value, JobFailed)
    assert "\n" not in message and "bad.tar.gz" in message and why in message
    assert f"member {refused!r}" in message
    if dest_exists:
        assert _tree(dest) == before
    else:
        assert not os.path.lexists(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad.tar.gz"] + (["dest"] if dest_exists else []))
    assert not os.path.exists("/tmp/stager-evil")


def test_corrupt_archive_is_job_failed(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    dest = tmp_path / "dest"
    with pytest.raises(JobFailed) as caught:
        safe_extract(archive, dest)
    assert not isinstance(caught.value, UnsafeArchive)
    assert "broken.tar.gz" in str(caught.value) and "\n" not in str(caught.value)
    assert not dest.exists()
