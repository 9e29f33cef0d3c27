"""Dataset folders and manifests for the storage tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from stager.storage.manifest import FileEntry, Manifest, new_manifest, scan_files


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for path, body in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def manifest_of(root: Path, name: str = "demo") -> Manifest:
    return new_manifest(name, root, scan_files(root))


def small_files(count: int, *, seed: str = "v1") -> dict[str, bytes]:
    """``count`` files of 1-3 KiB of distinct content, some in subfolders."""
    files = {}
    for i in range(count):
        folder = "train" if i % 2 else "val/nested"
        body = hashlib.sha256(f"{seed}-{i}".encode()).digest() * (32 + 32 * (i % 3))
        files[f"{folder}/sample-{i:03d}.bin"] = body
    return files


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def entry_for(path: str, body: bytes) -> FileEntry:
    return FileEntry(path, len(body), hashlib.sha256(body).hexdigest())


def quiet(_line: str) -> None:
    """A `say` that prints nothing."""


def assert_one_line_without(error: BaseException, *secrets: str) -> None:
    """The error is one non-empty line, and no secret shows in it or its repr."""
    text = str(error)
    assert "\n" not in text and text
    for secret in secrets:
        assert secret not in text and secret not in repr(error)
    # botocore's exceptions hold the request (with its signed headers): never chained
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
