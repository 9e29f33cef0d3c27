"""SFTP into a sandbox: fabric transfers, and the jail at the sandbox root."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def sftp(host, ssh):
    client = ssh(host).open_sftp()
    yield client
    client.close()


def test_fabric_put_and_get(host, fab, tmp_path):
    local = tmp_path / "train.yaml"
    local.write_text("lr: 0.1\n")
    local.chmod(0o640)
    conn = fab(host)
    conn.run("mkdir -p configs", hide=True, in_stream=False)
    conn.put(str(local), "configs/train.yaml")
    remote = host.root / "root" / "configs" / "train.yaml"
    assert remote.read_text() == "lr: 0.1\n"
    assert remote.stat().st_mode & 0o777 == 0o640
    back = tmp_path / "back.yaml"
    conn.get("/root/configs/train.yaml", str(back))
    assert back.read_text() == "lr: 0.1\n"


def test_paths_map_under_the_root(host, sftp):
    (host.root / "etc" / "passwd").write_text("sandbox passwd\n")
    assert sftp.normalize(".") == "/root"
    with sftp.open("../../etc/passwd") as f:  # .. stops at the sandbox's /
        assert f.read() == b"sandbox passwd\n"
    assert sorted(sftp.listdir("/../..")) == ["dev", "etc", "mnt", "root", "tmp"]
    assert sftp.normalize("/../../root/../tmp") == "/tmp"


def test_symlink_leading_out_of_the_root_is_refused(host, sftp):
    os.symlink("/etc", host.root / "root" / "hostetc")
    with pytest.raises(PermissionError):
        sftp.listdir("hostetc")
    with pytest.raises(PermissionError):
        sftp.open("hostetc/passwd")
    assert sftp.lstat("hostetc").st_mode  # the link itself is inside and may be looked at
    with pytest.raises(PermissionError):
        sftp.symlink("../../..", "up")  # would point above the root


def test_symlinks_made_over_sftp_use_sandbox_paths(host, sftp):
    sftp.mkdir("/root/data")
    sftp.symlink("/root/data", "/root/latest")
    assert sftp.readlink("/root/latest") == "/root/data"
    assert os.path.realpath(host.root / "root" / "latest") == str(host.root / "root" / "data")


def test_read_write_append_truncate_rename_remove(host, sftp):
    with sftp.open("log.txt", "w") as f:
        f.write(b"one\n")
    with sftp.open("log.txt", "a") as f:
        f.write(b"two\n")
    assert (host.root / "root" / "log.txt").read_bytes() == b"one\ntwo\n"
    sftp.truncate("log.txt", 4)
    assert sftp.open("log.txt").read() == b"one\n"
    sftp.utime("log.txt", (1_000_000, 1_000_000))
    sftp.chmod("log.txt", 0o600)
    attr = sftp.stat("log.txt")
    assert (attr.st_mtime, attr.st_mode & 0o777, attr.st_size) == (1_000_000, 0o600, 4)
    sftp.open("other.txt", "w").close()
    with pytest.raises(OSError):
        sftp.rename("log.txt", "other.txt")  # SFTP v3 rename never overwrites
    sftp.posix_rename("log.txt", "other.txt")
    assert sftp.listdir(".") == ["other.txt"]
    sftp.remove("other.txt")
    sftp.mkdir("d", 0o750)
    assert sftp.stat("d").st_mode & 0o777 == 0o750
    sftp.rmdir("d")
    with pytest.raises(FileNotFoundError):
        sftp.stat("d")


def test_attached_volume_is_reachable(host, sftp, tmp_path):
    volume = tmp_path / "vol"
    host.attach_volume("data", volume)
    with sftp.open("/mnt/data/a.bin", "w") as f:
        f.write(b"payload")
    assert (volume / "a.bin").read_bytes() == b"payload"
    assert sftp.listdir("/dev/disk/by-id/scsi-0Linode_Volume_data") == ["a.bin"]
    host.detach_volume("data")
    with pytest.raises(FileNotFoundError):
        sftp.stat("/mnt/data/a.bin")
