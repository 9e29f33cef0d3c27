"""Files and directories both ways, verified by sha256, and paths that try to break out of quoting."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from stager.remote import TransferError, command, in_dir, with_env

HOSTILE = "we ird 'single' \"double\" $(touch canary1) `touch canary2` ; touch canary3 & x\ty\nz"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remote_names(remote, directory: str) -> list[str]:
    listing = remote.run(command("find", directory, "-mindepth", "1", "-printf", "%P\\0"), stream=False).stdout
    return sorted(name for name in listing.split("\0") if name)


def test_a_file_goes_up_and_comes_back_verified(remote, tmp_path):
    data = os.urandom(300_000)
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    local.chmod(0o750)
    assert remote.put_file(local, "deep/er/model.bin") == sha(data)
    assert remote.sha256("deep/er/model.bin") == sha(data)
    assert remote_names(remote, "deep") == ["er", "er/model.bin"]  # no temporary file left
    assert remote.run("stat -c %a deep/er/model.bin", stream=False).stdout == "750\n"
    back = tmp_path / "back" / "model.bin"
    assert remote.get_file("deep/er/model.bin", back) == sha(data)
    assert back.read_bytes() == data
    assert sorted(p.name for p in back.parent.iterdir()) == ["model.bin"]


def test_a_missing_file_is_a_transfer_error_naming_it(remote, tmp_path):
    with pytest.raises(TransferError, match="no-such.bin") as caught:
        remote.get_file("no-such.bin", tmp_path / "x")
    assert caught.value.path == "no-such.bin"
    assert not (tmp_path / "x").exists()
    with pytest.raises(TransferError, match="no-such.bin"):
        remote.sha256("no-such.bin")
    with pytest.raises(TransferError, match="absent.txt"):
        remote.put_file(tmp_path / "absent.txt", "absent.txt")
    remote.run("echo i am a file > plain")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(TransferError, match="cannot upload .*x.txt: plain exists and is not a directory"):
        remote.put_file(tmp_path / "x.txt", "plain/x.txt")


def test_a_file_still_being_written_is_refused_on_download(remote, tmp_path):
    writer = remote.start_detached("while :; do echo more >> growing.log; sleep 0.001; done",
                                   name="writer", workdir="w")
    try:
        remote.run("until [ -s w/growing.log ]; do sleep 0.01; done", timeout=5)
        with pytest.raises(TransferError, match="growing.log arrived as .* with sha256 .*, expected"):
            remote.get_file("w/growing.log", tmp_path / "down" / "growing.log")
    finally:
        remote.kill(writer, "KILL")
    assert list((tmp_path / "down").iterdir()) == []  # neither the file nor a temporary one


def test_a_directory_round_trips_with_every_hash(remote, tmp_path):
    source = tmp_path / "src"
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(70_000), "sub/deeper/c": b"", "sub/deeper/.hidden": b"h"}
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    (source / "empty").mkdir()
    (source / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (source / "run.sh").chmod(0o755)
    files["run.sh"] = (source / "run.sh").read_bytes()
    expected = {rel: sha(data) for rel, data in files.items()}

    assert remote.put_dir(source, "data/in") == expected
    assert remote.run("data/in/run.sh", stream=False).stdout == "ran\n"
    assert "empty" in remote_names(remote, "data/in")
    assert not any(".stager-part-" in name for name in remote_names(remote, "data/in"))

    back = tmp_path / "back"
    assert remote.get_dir("data/in", back) == expected
    for rel, data in files.items():
        assert (back / rel).read_bytes() == data
    assert (back / "empty").is_dir()
    assert not any(".stager-part-" in p.name for p in back.rglob("*"))


def test_get_dir_of_a_missing_directory_fails_clearly(remote, tmp_path):
    with pytest.raises(TransferError, match="cannot download nowhere"):
        remote.get_dir("nowhere", tmp_path / "x")


def test_hostile_names_survive_every_path_and_run_nothing(remote, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a canary made locally would land here
    data = b"payload with 'quotes' and $(dollars)\n"
    local_dir = tmp_path / HOSTILE
    local_dir.mkdir()
    (local_dir / HOSTILE).write_bytes(data)
    remote_dir = f"up/{HOSTILE}"
    remote_file = f"{remote_dir}/{HOSTILE}"

    assert remote.put_file(local_dir / HOSTILE, remote_file) == sha(data)
    assert remote_names(remote, "up") == sorted([HOSTILE, f"{HOSTILE}/{HOSTILE}"])
    assert remote.sha256(remote_file) == sha(data)
    assert remote.run(command("cat", "--", remote_file), stream=False).stdout == data.decode()
    assert remote.get_file(remote_file, tmp_path / "down" / HOSTILE) == sha(data)
    assert (tmp_path / "down" / HOSTILE).read_bytes() == data

    assert remote.put_dir(local_dir, f"tree/{HOSTILE}") == {HOSTILE: sha(data)}
    assert remote.get_dir(f"tree/{HOSTILE}", tmp_path / "tree") == {HOSTILE: sha(data)}

    remote.run(with_env({"VALUE": HOSTILE}, in_dir(remote_dir, 'printf "%s" "$VALUE" > value')))
    assert remote.get_file(f"{remote_dir}/value", tmp_path / "value") == sha(HOSTILE.encode())

    job = remote.start_detached(command("printf", "%s\\n", HOSTILE), name="hostile", workdir=remote_dir)
    assert remote.follow(job, timeout=10) == 0
    assert remote.attach(name="hostile", workdir=remote_dir) == job

    canaries = remote.run("find . -name 'canary*'", stream=False).stdout
    assert canaries == ""
    assert not list(tmp_path.rglob("canary*"))
    assert stat.S_ISREG((tmp_path / "down" / HOSTILE).stat().st_mode)


def test_paths_given_as_path_objects_work(remote, tmp_path):
    local = Path(tmp_path / "p.txt")
    local.write_text("p\n")
    remote.put_file(local, "p.txt")
    assert remote.get_file("p.txt", tmp_path / "q.txt") == sha(b"p\n")
