"""Downloading pinned sources from a loopback server: verified, skipped when present, resumed after a drop."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from stager.data import sources as sources_module
from stager.data.sources import Source, SourceFailed, fetch_sources, part_path
from stager.errors import UsageError
from stager.storage.manifest import scan_files

BODY = os.urandom(300_000)


def fetch(items, root, lines=None, **options):
    return fetch_sources(items, root, say=(lines.append if lines is not None else lambda line: None), **options)


def test_fresh_download_is_verified_and_put_in_place(file_server, tmp_path):
    url, sha = file_server.add("/d/train.bin", BODY)
    lines: list[str] = []
    paths = fetch([Source(url, sha, "raw/train.bin")], tmp_path, lines)
    assert paths == [tmp_path / "raw" / "train.bin"]
    assert paths[0].read_bytes() == BODY
    assert not part_path(paths[0]).exists()
    assert len(file_server.requests) == 1 and file_server.requests[0].range is None
    assert any("sha256 verified" in line for line in lines)


def test_a_file_present_with_the_pinned_hash_is_not_requested(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY)
    (tmp_path / "f.bin").write_bytes(BODY)
    lines: list[str] = []
    fetch([Source(url, sha, "f.bin")], tmp_path, lines)
    assert file_server.requests == []
    assert lines == ["f.bin: present with the pinned sha256"]


def test_a_file_present_with_other_bytes_is_fetched_again(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY)
    (tmp_path / "f.bin").write_bytes(b"stale")
    fetch([Source(url, sha, "f.bin")], tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY and len(file_server.requests) == 1


def test_a_dropped_connection_is_resumed_with_a_range_request(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY)
    file_server.drops, file_server.drop_after = 1, 120_000
    fetch([Source(url, sha, "f.bin")], tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    first, second = file_server.requests
    assert first.range is None and first.nbytes == 120_000
    assert second.range == "bytes=120000-" and second.status == 206 and second.nbytes == len(BODY) - 120_000
    assert file_server.bytes_served == len(BODY), "nothing is downloaded twice"


def test_an_interrupted_download_resumes_on_the_next_call(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY)
    source = Source(url, sha, "f.bin")
    # the line keeps dropping: the call resumes a few times, then gives up, leaving the partial file
    file_server.drops, file_server.drop_after = 10, 50_000
    with pytest.raises(SourceFailed) as caught:
        fetch([source], tmp_path)
    assert "run again to resume" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "f.bin").exists()
    kept = part_path(tmp_path / "f.bin").stat().st_size
    assert 0 < kept < len(BODY)
    with pytest.raises(UsageError, match="holds no files"):
        scan_files(tmp_path)  # the partial file is a dot-file: never taken for data

    file_server.drops = 0
    file_server.requests.clear()
    fetch([source], tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    (only,) = file_server.requests
    assert only.range == f"bytes={kept}-" and only.nbytes == len(BODY) - kept


def test_ctrl_c_leaves_only_the_partial_file(file_server, tmp_path, monkeypatch):
    big = os.urandom(3 * 1024 * 1024)
    url, sha = file_server.add("/big.bin", big)
    monkeypatch.setattr(sources_module, "_PROGRESS_EVERY_S", 0.0)  # a progress line after every chunk

    def say(line: str) -> None:
        if " of " in line:  # the first progress line: one chunk is on disk
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_sources([Source(url, sha, "big.bin")], tmp_path, say=say, progress=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".big.bin.part"]
    kept = part_path(tmp_path / "big.bin").stat().st_size
    assert 0 < kept < len(big)

    file_server.requests.clear()
    fetch([Source(url, sha, "big.bin")], tmp_path)
    assert (tmp_path / "big.bin").read_bytes() == big
    assert [r.range for r in file_server.requests] == [f"bytes={kept}-"]


def test_a_server_ignoring_range_is_downloaded_from_the_start(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY)
    file_server.honour_range = False
    part = part_path(tmp_path / "f.bin")
    part.write_bytes(BODY[:1000])
    lines: list[str] = []
    fetch([Source(url, sha, "f.bin")], tmp_path, lines, progress=True)
    assert (tmp_path / "f.bin").read_bytes() == BODY and not part.exists()
    assert file_server.requests[0].range == "bytes=1000-" and file_server.requests[0].status == 200
    assert any("does not resume" in line for line in lines)


def test_a_partial_file_longer_than_the_file_starts_over(file_server, tmp_path):
    url, sha = file_server.add("/f.bin", BODY[:500])
    part_path(tmp_path / "f.bin").write_bytes(BODY)  # left by another file once at that URL
    fetch([Source(url, sha, "f.bin")], tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY[:500]
    assert [r.status for r in file_server.requests] == [416, 200]


def test_a_wrong_pin_is_refused_and_nothing_is_kept(file_server, tmp_path):
    url, actual = file_server.add("/f.bin", BODY)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(SourceFailed) as caught:
        fetch([Source(url, wrong, "f.bin")], tmp_path)
    message = str(caught.value)
    assert url in message and wrong in message and actual in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_http_errors_are_one_line(file_server, tmp_path):
    url = file_server.url("/missing.bin")
    with pytest.raises(SourceFailed) as caught:
        fetch([Source(url, "0" * 64, "m.bin")], tmp_path)
    assert str(caught.value) == f"fetching {url} failed: HTTP 404 Not Found"


def test_an_unreachable_host_is_one_line(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/f.bin"
    with pytest.raises(SourceFailed) as caught:
        fetch([Source(url, "0" * 64, "f.bin")], tmp_path, timeout=5)
    message = str(caught.value)
    assert message.startswith(f"fetching {url} failed: ") and "\n" not in message
    assert "refused" in message.lower()
    assert list(tmp_path.iterdir()) == []
