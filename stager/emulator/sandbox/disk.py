"""A sandbox's disk as a directory: measure it, capture it as an image, restore it.

An "image" of a sandbox is a plain directory copy, not a block device: no
partition table, no filesystem, no kernel. Ownership is not preserved (every
file belongs to whoever runs the emulator); devices, fifos and sockets are
skipped. Absolute symlinks that point inside the sandbox are rewritten as
relative ones so an image works under any new root.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from stager.emulator.sandbox import layout

__all__ = ["capture_disk", "measure_disk", "restore_disk", "restore_disk_from_archive"]

_CHUNK = 1 << 20


def measure_disk(root: Path) -> int:
    """Bytes used under ``root``: the sum of regular file sizes.

    Symlinks (volume links included) are not followed; a file with several
    hard links counts once per link.
    """
    total = 0
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def capture_disk(root: Path, dest: Path) -> int:
    """Copy a sandbox's filesystem into the new directory ``dest``; return its size.

    Files are copied, never hard-linked, so the image stays as it was when the
    sandbox changes later. Modes, mtimes and symlinks (as links) are kept.
    Left out: everything in ``dev/disk/by-id/`` and every symlink directly under
    ``mnt/`` (attached volumes are not part of a disk), and the contents of
    ``tmp/``.

    Raises:
        FileExistsError: ``dest`` exists and is not an empty directory.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"image directory {dest} already exists and is not empty")

    def skip(rel: str, entry: os.DirEntry) -> bool:
        parent = posixpath.dirname(rel)
        return (
            parent == layout.BY_ID
            or parent == layout.TMP
            or (parent == layout.MNT and entry.is_symlink())
        )

    _copy_tree(os.fspath(root), os.fspath(dest), "", skip, os.path.realpath(root))
    return measure_disk(dest)


def restore_disk(src: Path, root: Path) -> None:
    """Fill a new sandbox's ``root`` from a directory made by `capture_disk`."""
    _copy_tree(os.fspath(src), os.fspath(root), "", lambda rel, entry: False, os.path.realpath(src))
    layout.ensure_layout(Path(root))


def restore_disk_from_archive(fileobj: BinaryIO, root: Path, *, max_uncompressed: int) -> int:
    """Fill ``root`` from an uploaded gzip stream; return the uncompressed byte count.

    A gzip'd tar archive is extracted into ``root``: members with absolute
    paths or ``..``, links that point outside ``root``, devices and fifos are
    refused. Anything else (a real Linode ``.img.gz`` raw disk) is written as
    ``root/disk.img``, which no sandbox command can boot or mount. On error
    ``root`` may hold a partial extraction: the caller discards it.

    Raises:
        ValueError: the stream is not gzip, the tar is corrupt or unsafe, or
            the content exceeds ``max_uncompressed`` bytes.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    reader = _LimitedReader(gzip.GzipFile(fileobj=fileobj, mode="rb"), max_uncompressed)
    try:
        head = reader.read_exactly(tarfile.BLOCKSIZE)
        reader.unread(head)
        if len(head) == tarfile.BLOCKSIZE and head[257:262] == b"ustar":
            _extract_tar(reader, root)
        else:
            with open(root / "disk.img", "wb") as out:
                while chunk := reader.read(_CHUNK):
                    out.write(chunk)
        while reader.read(_CHUNK):  # tar padding after the end marker counts too
            pass
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"image is not a valid gzip stream: {exc}") from None
    except tarfile.TarError as exc:
        raise ValueError(f"image archive is corrupt or unsafe: {exc}") from None
    layout.ensure_layout(root)
    return reader.count


class _LimitedReader:
    """Reads a stream, counting bytes and failing once it passes a limit."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._pushed = b""
        self.count = 0  # bytes read from `raw` so far

    def read(self, n: int = -1) -> bytes:
        if self._pushed:
            data = self._pushed if n < 0 else self._pushed[:n]
            self._pushed = self._pushed[len(data):]
            return data
        data = self._raw.read(_CHUNK if n is None or n < 0 else n)
        self.count += len(data)
        if self.count > self._limit:
            raise ValueError(f"image is larger than {self._limit} bytes uncompressed")
        return data

    def read_exactly(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n and (chunk := self.read(n - got)):
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        self._pushed = data + self._pushed


def _extract_tar(reader: _LimitedReader, root: Path) -> None:
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            _check_member(member)
            if data_filter is not None:
                tar.extract(member, root, filter=data_filter)
            else:  # pragma: no cover - older Pythons; _check_member did the checks
                tar.extract(member, root)


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or _climbs(name):
        raise ValueError(f"unsafe path in image archive: {name!r}")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise ValueError(f"image archive member {name!r} is a device, fifo or other special file")
    if member.issym():
        target = posixpath.join(posixpath.dirname(name), member.linkname)
        if member.linkname.startswith("/") or _climbs(posixpath.normpath(target)):
            raise ValueError(f"image archive symlink {name!r} points outside the disk: {member.linkname!r}")
    if member.islnk() and (member.linkname.startswith("/") or _climbs(member.linkname)):
        raise ValueError(f"image archive hard link {name!r} points outside the disk: {member.linkname!r}")


def _climbs(path: str) -> bool:
    return ".." in path.split("/")


def _copy_tree(
    src: str, dst: str, rel: str, skip: Callable[[str, os.DirEntry], bool], src_root: str
) -> None:
    """Copy ``src`` into ``dst`` (merging), depth first; directory modes and mtimes last."""
    os.makedirs(dst, exist_ok=True)
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        entry_rel = f"{rel}/{entry.name}" if rel else entry.name
        if skip(entry_rel, entry):
            continue
        try:
            _copy_entry(entry, os.path.join(dst, entry.name), entry_rel, skip, src_root)
        except FileNotFoundError:
            pass  # deleted while we copied: a live disk is imaged as it is
    st = os.stat(src)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_entry(
    entry: os.DirEntry, target: str, rel: str, skip: Callable[[str, os.DirEntry], bool], src_root: str
) -> None:
    if entry.is_symlink():
        if os.path.lexists(target):
            os.remove(target)
        os.symlink(_portable_link(os.readlink(entry.path), entry.path, src_root), target)
        st = entry.stat(follow_symlinks=False)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    elif entry.is_dir(follow_symlinks=False):
        _copy_tree(entry.path, target, rel, skip, src_root)
    elif entry.is_file(follow_symlinks=False):
        shutil.copy2(entry.path, target, follow_symlinks=False)
    # Devices, fifos and sockets have no place in an image: skipped.


def _portable_link(link_target: str, link_path: str, src_root: str) -> str:
    """An absolute target inside ``src_root`` becomes relative; others are kept."""
    if os.path.isabs(link_target) and (
        link_target == src_root or link_target.startswith(src_root + os.sep)
    ):
        return os.path.relpath(link_target, os.path.realpath(os.path.dirname(link_path)))
    return link_target
