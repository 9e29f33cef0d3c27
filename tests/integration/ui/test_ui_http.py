"""`stager ui` over plain HTTP: read-only methods, 404s, escaping, a ledger never written, loopback only."""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from ui_world import start_ui

from stager.ledger import Ledger

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ui-http") / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        run_id = ledger.create_run(pipeline=HOSTILE, pipeline_file="p.yaml", target="local", spec={},
                                   versions={}, git=None, run_id="r-hostile")
        ledger.cost(run_id, estimated_usd=1.0, actual_usd=2.0)
    return path


@pytest.fixture(scope="module")
def home_env(tmp_path_factory) -> dict:
    """The environment with a STAGER_HOME of the tests' own, so nothing outside the test folders is read."""
    return {**os.environ, "STAGER_HOME": str(tmp_path_factory.mktemp("ui-home"))}


@pytest.fixture(scope="module")
def ui(ledger_path, home_env, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    with start_ui("--ledger", str(ledger_path), "--runs-dir", str(runs), env=home_env) as server:
        yield server


def _request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None):
    """(status, headers, body text) of one request."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _digest(path) -> str:
    """The ledger's content: the file and its write-ahead log (the -shm file is an index readers share)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).hexdigest()


def test_only_get_and_head_are_answered(ui):
    status, headers, body = _request(ui.url, "POST", "/runs", body=b"status=failed")
    assert status == 405 and headers["Allow"] == "GET, HEAD" and "POST is not allowed" in body
    assert _request(ui.url, "DELETE", "/runs/r-hostile")[0] == 405
    status, headers, body = _request(ui.url, "HEAD", "/runs")
    assert status == 200 and int(headers["Content-Length"]) > 0 and body == ""


def test_unknown_pages_runs_and_bad_parameters(ui):
    status, _, body = _request(ui.url, path="/nowhere")
    assert status == 404 and "no page /nowhere" in body
    status, _, body = _request(ui.url, path="/runs/r-nosuchrun")
    assert status == 404 and "no run r-nosuchrun" in body
    status, _, body = _request(ui.url, path="/diff?a=r-hostile&b=r-nosuchrun")
    assert status == 404 and "no run r-nosuchrun" in body
    status, _, body = _request(ui.url, path="/runs?sort=colour")
    assert status == 400 and "sort=&#x27;colour&#x27;" in body and "created" in body
    status, _, body = _request(ui.url, path="/runs?since=someday")
    assert status == 400 and "since: bad date" in body
    status, _, body = _request(ui.url, path="/cost?by=week")
    assert status == 400 and "by=&#x27;week&#x27;" in body


def test_values_from_the_ledger_are_escaped(ui):
    for path in ("/runs", "/runs?pipeline=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/cost?by=pipeline"):
        status, _, body = _request(ui.url, path=path)
        assert status == 200, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and HOSTILE not in body, path
    body = _request(ui.url, path="/runs?pipeline=%3Cscript%3Ealert(1)%3C%2Fscript%3E")[2]
    assert 'data-run-id="r-hostile"' in body and "$2.00" in body


def test_serving_never_writes_the_ledger(ledger_path, home_env, tmp_path):
    before = _digest(ledger_path)
    with start_ui("--ledger", str(ledger_path), env=home_env) as server:
        for path in ("/", "/runs?sort=cost", "/runs/r-hostile", "/diff?a=r-hostile&b=r-hostile", "/cost"):
            assert _request(server.url, path=path)[0] == 200, path
    assert _digest(ledger_path) == before

    missing = tmp_path / "none" / "ledger.sqlite"
    with start_ui("--ledger", str(missing), env=home_env) as server:
        status, _, body = _request(server.url, path="/runs")
        assert status == 200 and "No runs yet" in body
        assert _request(server.url, path="/cost")[0] == 200
        code, output = server.stop()
    assert not missing.parent.exists()  # no ledger (nor its folder) was created
    assert code == 0 and "stopped" in output  # SIGTERM is a clean stop


def test_a_host_off_this_machine_is_refused(home_env):
    done = subprocess.run([sys.executable, "-m", "stager", "ui", "--host", "0.0.0.0"], capture_output=True,
                          text=True, timeout=30, env=home_env)
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert "--host 0.0.0.0" in done.stderr and "127.0.0.1" in done.stderr
