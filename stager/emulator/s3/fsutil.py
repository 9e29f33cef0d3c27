"""Crash-safe file primitives for the store.

Everything is written to ``tmp/`` (on the same filesystem as the data, so
``os.replace`` is atomic) and renamed into place: a process killed at any
moment leaves either the old state or the new one, plus perhaps a stray temp
file that the next ``BucketStore`` sweeps. Without ``fsync=True`` this holds
against a killed process, not against power loss.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from .checksums import Hasher
from .errors import BucketError

CHUNK = 1024 * 1024
TRASH_PREFIX = "trash-"
# A temp file untouched for this long belongs to no live writer (writes refresh mtime).
STALE_TMP_S = 3600


def new_name() -> str:
    return uuid.uuid4().hex


def write_json(path: Path, data: Any, tmp_dir: Path, *, fsync: bool = False) -> None:
    tmp = tmp_dir / new_name()
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def spool(body: BinaryIO, tmp_dir: Path, hasher: Hasher, *, limit: int, fsync: bool = False) -> tuple[Path, int]:
    """Copy ``body`` to a new temp file while hashing; never holds more than CHUNK in memory.

    Raises EntityTooLarge once more than ``limit`` bytes arrive; the temp file is
    removed on any error, otherwise the caller owns it.
    """
    tmp = tmp_dir / new_name()
    size = 0
    try:
        with open(tmp, "wb") as f:
            while chunk := body.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise BucketError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
                hasher.update(chunk)
                f.write(chunk)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, size


def link_or_copy(src: Path, dst: Path) -> None:
    """Blobs are immutable, so a hard link is a free, safe copy; fall back to copying."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def trash(path: Path, tmp_dir: Path) -> None:
    """Remove a directory tree atomically: rename it away first, then delete."""
    target = tmp_dir / f"{TRASH_PREFIX}{new_name()}"
    os.replace(path, target)
    shutil.rmtree(target, ignore_errors=True)


def sweep_tmp(tmp_dir: Path) -> None:
    """Delete leftovers of killed processes: trashed trees and stale temp files."""
    cutoff = time.time() - STALE_TMP_S
    for entry in tmp_dir.iterdir():
        try:
            if entry.name.startswith(TRASH_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            pass  # a concurrent sweeper got there first
