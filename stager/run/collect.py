"""Bringing a run's checkpoints home from its outputs bucket, each checked against the sha256 it was pushed with.

The checkpoints come from Object Storage rather than from the instance: they are
there whether or not the instance still is (a vanished instance, a resumed
run), and each object carries the sha256 it was pushed with.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from stager.errors import JobFailed
from stager.run.push import read_index

__all__ = ["download_checkpoint", "pull_checkpoints"]

_CHUNK = 1 << 20


def download_checkpoint(client, bucket: str, entry: dict, dest: Path) -> str:
    """Download one index entry's object to ``dest`` through a temporary name; return its sha256.

    The bytes are checked against the ``sha256`` stored with the object itself, read in the same
    request: the index may lag behind an object replaced just before training stopped.

    Raises:
        JobFailed: the bytes differ from the object's recorded sha256 (nothing is left at ``dest``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.part")
    where = f"s3://{bucket}/{entry['key']}"
    try:
        answer = client.get_object(Bucket=bucket, Key=entry["key"])
        recorded = (answer.get("Metadata") or {}).get("sha256") or entry.get("sha256")
        digest = hashlib.sha256()
        with open(temp, "wb") as out:
            for chunk in answer["Body"].iter_chunks(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != recorded:
            raise JobFailed(f"{where} has sha256 {digest.hexdigest()}, not the {recorded} it was pushed with")
        os.replace(temp, dest)
        return digest.hexdigest()
    finally:
        temp.unlink(missing_ok=True)


def pull_checkpoints(client, bucket: str, prefix: str, dest: Path,
                     say: Callable[[str], None]) -> list[tuple[Path, str, str]]:
    """Every checkpoint in the index under ``prefix``, into ``dest``: (local path, s3 URL, sha256) each."""
    index = read_index(client, bucket, prefix)
    if index is None:
        say(f"no checkpoints were pushed to s3://{bucket}/{prefix}/")
        return []
    pulled = []
    for name, entry in sorted(index["checkpoints"].items()):
        if "/" in name or name.startswith("."):
            raise JobFailed(f"s3://{bucket}/{prefix}/index.json names a checkpoint {name!r} outside its folder")
        local = dest / name
        digest = download_checkpoint(client, bucket, entry, local)
        pulled.append((local, f"s3://{bucket}/{entry['key']}", digest))
    say(f"{len(pulled)} checkpoint(s) pulled into {dest}, each verified by sha256")
    return pulled
