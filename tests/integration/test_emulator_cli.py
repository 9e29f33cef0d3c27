"""`stager emulator serve|status|reset` as a user runs them, in real subprocesses."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import boto3
from linode_api4 import LinodeClient

from stager.emulator.local import connect

STAGER = [sys.executable, "-m", "stager.cli"]


def _stager(*args, **kwargs):
    return subprocess.run([*STAGER, *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_serve_status_reset(tmp_path):
    state = tmp_path / "state"
    server = subprocess.Popen([*STAGER, "emulator", "serve", "--state-dir", str(state)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())
        assert set(info) == {"base_url", "token", "s3_endpoint"}
        assert info["base_url"].startswith("http://127.0.0.1:") and info["base_url"].endswith("/v4")
        client = LinodeClient(info["token"], base_url=info["base_url"])
        client.linode.instance_create("g6-nanode-1", "us-east", label="from-cli", booted=False)
        client.object_storage.bucket_create("us-east", "cli-bucket")
        key = client.object_storage.keys_create("cli")
        s3 = boto3.client("s3", endpoint_url=info["s3_endpoint"], region_name="us-east-1",
                          aws_access_key_id=key.access_key, aws_secret_access_key=key.secret_key)
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["cli-bucket"]

        busy = _stager("emulator", "serve", "--state-dir", str(state))
        assert busy.returncode == 2 and "another stager emulator" in busy.stderr
        assert "Traceback" not in busy.stderr

        status = _stager("emulator", "status", "--state-dir", str(state), "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["serving"] == info["base_url"] and report["instances"] == {"from-cli": "offline"}
        assert info["token"] not in status.stdout

        endpoint = connect(state)  # the local target finds the running emulator instead of starting one
        assert (endpoint.base_url, endpoint.emulator) == (info["base_url"], None)
        assert endpoint.token == info["token"] and info["token"] not in repr(endpoint)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0

    offline = _stager("emulator", "status", "--state-dir", str(state))
    assert offline.returncode == 0 and "from-cli: offline" in offline.stdout and "state only" in offline.stdout
    reset = _stager("emulator", "reset", "--state-dir", str(state), "--yes")
    assert reset.returncode == 0, reset.stderr
    report = json.loads(_stager("emulator", "status", "--state-dir", str(state), "--json").stdout)
    assert report["instances"] == {} and report["buckets"] == 0

    endpoint = connect(state)  # nothing serving: the local target starts its own, on the same state
    try:
        assert endpoint.emulator is not None
        assert LinodeClient(endpoint.token, base_url=endpoint.base_url).linode.instances().total_items == 0
    finally:
        endpoint.close()


def test_status_without_state_is_a_clear_error(tmp_path):
    result = _stager("emulator", "status", "--state-dir", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert "no emulator state" in result.stderr and "Traceback" not in result.stderr


def test_bad_serve_options_are_usage_errors(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = str(taken.getsockname()[1])
        for args, expected in ((["--port", "99999"], "--port"), (["--port", busy_port], "cannot listen on")):
            result = _stager("emulator", "serve", "--state-dir", str(tmp_path / "state"), *args)
            assert result.returncode == 2, result.stderr
            assert expected in result.stderr and "Traceback" not in result.stderr
