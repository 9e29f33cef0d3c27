"""A local target on the session's emulator and a small dataset folder for volume syncs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def local_target(emulator):
    from stager.cloud import Backoff, CloudTarget, LinodeCloud

    return CloudTarget(name="local", cloud=LinodeCloud(emulator.client(), poll=Backoff(0.02, 0.3)),
                       sandboxed=True, s3_endpoint=emulator.s3_endpoint)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A dataset folder: three files, one in a subfolder, plus a dot-file that is not data."""
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.bin").write_bytes(b"a" * 3000)
    (root / "train" / "b.bin").write_bytes(b"b" * 5000)
    (root / "labels.csv").write_text("id,label\n1,0\n2,1\n")
    (root / ".DS_Store").write_text("not data")
    return root


@pytest.fixture
def instance_creations(emulator):
    """``instance_creations()`` -> how many instances the emulator was asked to create."""
    return lambda: sum(1 for e in emulator.client().account.events() if e.action == "linode_create")
