"""The Linode-only step, format when blank then mount, run against stand-in tools: data is never formatted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stager.storage.volume import _mount_script


def run_script(tmp_path: Path, blkid_exit: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The real script, with the device a plain file and blkid, mkfs.ext4, mount and mountpoint recorded."""
    bin_dir, calls, device = tmp_path / "bin", tmp_path / "calls", tmp_path / "device"
    bin_dir.mkdir()
    device.write_bytes(b"")
    for tool, code in (("blkid", blkid_exit), ("mkfs.ext4", 0), ("mount", 0), ("mountpoint", 1)):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit {code}\n')
        script.chmod(0o755)
    text = _mount_script("data1", str(tmp_path / "mnt" / "data1"))
    text = text.replace("/dev/disk/by-id/scsi-0Linode_Volume_data1", str(device)).replace("[ ! -b ", "[ ! -e ")
    text = text.replace("[ -b ", "[ -e ")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, env=env, timeout=20)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_a_blank_volume_is_formatted_then_mounted(tmp_path):
    result, calls = run_script(tmp_path, blkid_exit=2)
    assert result.returncode == 0, result.stderr
    assert "formatting volume data1 as ext4" in result.stdout
    assert [c.split()[0] for c in calls] == ["blkid", "mkfs.ext4", "mountpoint", "mount"]
    assert (tmp_path / "mnt" / "data1").is_dir()


def test_a_volume_with_a_filesystem_is_mounted_as_it_is(tmp_path):
    result, calls = run_script(tmp_path, blkid_exit=0)
    assert result.returncode == 0, result.stderr
    assert "mkfs.ext4" not in " ".join(calls) and calls[-1].startswith("mount ")


@pytest.mark.parametrize("code", [4, 8])
def test_an_unreadable_or_ambiguous_volume_is_left_alone(tmp_path, code):
    result, calls = run_script(tmp_path, blkid_exit=code)
    assert result.returncode == 1 and "not formatting it" in result.stderr
    assert [c.split()[0] for c in calls] == ["blkid"]
