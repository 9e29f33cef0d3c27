"""Packing a run's outputs into a tar.gz, and unpacking one without trusting it.

``pack`` stores regular files and directories only, under names relative to
the packed folder; symlinks (and sockets, fifos, devices) are skipped, never
followed. ``safe_extract`` accepts exactly that shape and refuses anything
else before writing a byte; checking the sha256 of the archive is the
caller's job (``stager.hashing.sha256_file``).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from stager.errors import JobFailed

__all__ = ["UnsafeArchive", "pack", "safe_extract"]

_FILTER_ERROR = getattr(tarfile, "FilterError", None)  # Pythons with the extraction filters


class UnsafeArchive(JobFailed):
    """An archive member that could write outside the destination, or is not plain data."""


def pack(folder: Path, archive: Path) -> None:
    """Write ``folder``'s regular files and directories to the tar.gz ``archive`` (atomically).

    Names are relative to ``folder`` (``a/b.txt``); symlinks, fifos, sockets and
    devices are left out and never followed; files hard-linked to each other are
    each stored whole (``safe_extract`` refuses links); ``archive`` itself is left
    out when it lies inside ``folder``.

    Raises:
        OSError: ``folder`` or a file in it cannot be read, or ``archive`` cannot be written.
    """
    folder, archive = Path(folder), Path(archive)
    if not folder.is_dir() or folder.is_symlink():
        raise NotADirectoryError(f"{folder} is not a folder")
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".tmp", dir=archive.parent)
    os.close(fd)
    skip = {os.path.abspath(archive), os.path.abspath(temp)}
    try:
        with tarfile.open(temp, "w:gz") as tar:
            _add_tree(tar, str(folder), "", skip)
        os.replace(temp, archive)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def _add_tree(tar: tarfile.TarFile, root: str, rel: str, skip: set[str]) -> None:
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)  # the same folder packs to the same member order
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_symlink() or os.path.abspath(entry.path) in skip:
            continue
        if entry.is_dir(follow_symlinks=False):
            tar.add(entry.path, arcname=name, recursive=False)
            _add_tree(tar, root, name, skip)
        elif entry.is_file(follow_symlinks=False):
            _add_file(tar, entry.path, name)


def _add_file(tar: tarfile.TarFile, path: str, name: str) -> None:
    """A regular file's bytes, even when it is a hard link to a file already stored (tarfile would store a link)."""
    with open(path, "rb") as f:
        info = tar.gettarinfo(arcname=name, fileobj=f)
        if not info.isreg():
            info.type, info.linkname = tarfile.REGTYPE, ""
            info.size = os.fstat(f.fileno()).st_size
        tar.addfile(info, f)


def _member_path(archive: Path, member: tarfile.TarInfo) -> str:
    """The member's normalised relative name ("" for the archive's root entry).

    Raises:
        UnsafeArchive: an absolute name, a ``..`` component, or a kind other than file or folder.
    """
    def refuse(why: str) -> UnsafeArchive:
        return UnsafeArchive(f"refusing archive {archive}: member {member.name!r} {why}")

    name = member.name
    if name.startswith("/"):
        raise refuse("has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse("has a '..' component")
    if member.issym() or member.islnk():
        raise refuse("is a link (archives with links are refused)")
    if member.ischr() or member.isblk() or member.isfifo():
        raise refuse("is a device or fifo")
    if not (member.isreg() or member.isdir()):
        raise refuse("is not a regular file or folder")
    return posixpath.join(*parts) if parts else ""


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Unpack the tar(.gz) ``archive`` into ``dest``; the paths of the regular files written, in archive order.

    Every member is checked before anything is written: absolute names, ``..``
    components, links of any kind (symbolic or hard, wherever they point),
    devices and fifos are refused. The archive is unpacked into a temporary
    folder beside ``dest`` and then moved into place, so a refused or broken
    archive leaves ``dest`` as it was. An existing ``dest`` is merged into:
    the archive's entries replace entries of the same name, others stay.
    Where the running Python has it, tarfile's ``data`` filter is applied too.

    Raises:
        UnsafeArchive: a member is refused (the message names the archive and the member).
        JobFailed: the archive is not a readable tar(.gz), or it could not be unpacked.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            names = [_member_path(archive, m) for m in members]
            dest.parent.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extract", dir=dest.parent))
            try:
                _extract(tar, members, temp)
                files = [dest / n for m, n in zip(members, names) if m.isreg() and n]
                _merge(temp, dest)
            finally:
                shutil.rmtree(temp, ignore_errors=True)
    except UnsafeArchive:
        raise
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        detail = " ".join(str(exc).split())
        if _FILTER_ERROR is not None and isinstance(exc, _FILTER_ERROR):  # the data filter's own refusals
            raise UnsafeArchive(f"refusing archive {archive}: {detail}") from None
        raise JobFailed(f"archive {archive} is not a readable tar.gz: {detail}") from None
    except OSError as exc:
        raise JobFailed(f"cannot unpack {archive} into {dest}: {exc.strerror or exc}") from None
    return list(dict.fromkeys(files))  # a name stored twice was written once


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, members=members, filter="data")
        return
    # Older Pythons (3.10 before the filter backport): what the data filter would do.
    uid, gid = os.geteuid(), os.getegid()
    for member in members:
        member.uid, member.gid, member.uname, member.gname = uid, gid, "", ""
        member.mode = (member.mode & 0o755) | (0o700 if member.isdir() else 0o600)
    tar.extractall(into, members=members)


def _merge(src: Path, dst: Path) -> None:
    """Move ``src``'s entries into ``dst`` (made if absent), replacing same-named ones; links in ``dst`` are
    replaced, never followed."""
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    if dst.is_symlink() or not dst.is_dir():
        raise NotADirectoryError(f"{dst} exists and is not a folder")
    for entry in sorted(os.listdir(src)):
        source, target = src / entry, dst / entry
        if source.is_dir() and target.is_dir() and not target.is_symlink():
            _merge(source, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif os.path.lexists(target) and source.is_dir():
            target.unlink()
        os.replace(source, target)
