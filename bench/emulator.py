"""Emulator speed: API requests per second through linode_api4, and instance/image latencies.

    python bench/emulator.py [--requests 3000]

Targets (no configured latency): >= 500 API requests/s through linode_api4;
create -> running -> SSH answers in <= 1 s; capture of a small sandbox in <= 2 s.
The baseline for throughput is measured in the same run: the same client
library (requests, one kept-alive session) against a bare standard-library
HTTP server that answers a fixed JSON body, i.e. the ceiling of this machine's
Python HTTP stack. Each line prints its ratio to its target or baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paramiko
import requests
from bench_common import stager_source_state
from linode_api4 import Image, Instance, Region

from stager.emulator import Emulator
from stager.emulator.sandbox import new_host_key


def bare_server_rate(count: int, body: bytes) -> float:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as the emulator; else every request waits ~40 ms for an ACK

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    session = requests.Session()
    url = f"http://127.0.0.1:{server.server_address[1]}/v4/regions/us-east"
    start = time.perf_counter()
    for _ in range(count):
        session.get(url).json()
    rate = count / (time.perf_counter() - start)
    server.shutdown()
    return rate


def api_rate(emulator: Emulator, count: int) -> float:
    client = emulator.client()
    start = time.perf_counter()
    for _ in range(count):
        client.load(Region, "us-east")
    return count / (time.perf_counter() - start)


def create_to_ssh(emulator: Emulator, key, pubkey: str) -> float:
    client = emulator.client()
    start = time.perf_counter()
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[pubkey])
    while True:
        instance.invalidate()
        if instance.status == "running":
            break
        time.sleep(0.005)
    port = int(instance._raw_json.get("ssh_port", 22))
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    ssh.connect(instance.ipv4[0], port=port, username="root", pkey=key, allow_agent=False, look_for_keys=False)
    _, out, _ = ssh.exec_command("echo ready")
    assert out.read().strip() == b"ready"
    elapsed = time.perf_counter() - start
    ssh.close()
    instance.delete()
    return elapsed


def capture(emulator: Emulator, key, pubkey: str) -> float:
    client = emulator.client()
    instance = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[pubkey])
    emulator.settle()
    root = emulator.backend.instances.root(instance.id) / "root"
    for n in range(200):  # a small sandbox: 200 files, ~5 MB
        (root / f"file-{n}.bin").write_bytes(bytes(25_000))
    disk = next(d for d in instance.disks if d.filesystem == "ext4")
    start = time.perf_counter()
    image = client.images.create(disk, label=f"bench-{time.time_ns()}")
    while client.load(Image, image.id).status != "available":
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    instance.delete()
    image.delete()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(stager_source_state())
    key = new_host_key()
    pubkey = f"{key.get_name()} {key.get_base64()}"
    with tempfile.TemporaryDirectory() as state:
        emulator = Emulator(state, rate_limits=False).start()
        try:
            body = json.dumps(emulator.client().get("/regions/us-east")).encode()
            api_rate(emulator, 200)  # warm up
            rates = [api_rate(emulator, args.requests) for _ in range(3)]
            bare = [bare_server_rate(args.requests, body) for _ in range(3)]
            creates = [create_to_ssh(emulator, key, pubkey) for _ in range(args.repeats)]
            captures = [capture(emulator, key, pubkey) for _ in range(args.repeats)]
            assert not emulator.client().linode.instances(Instance.label.contains("linode"))
        finally:
            emulator.stop()
    rate, bare_rate = statistics.median(rates), statistics.median(bare)
    print(f"API GET through linode_api4: {rate:.0f} req/s (median of 3 x {args.requests}); "
          f"target 500 -> {rate / 500:.2f}x target; bare stdlib server {bare_rate:.0f} req/s -> "
          f"{rate / bare_rate:.2f}x baseline")
    create = statistics.median(creates)
    print(f"create -> running -> SSH answers: median {create:.3f} s, max {max(creates):.3f} s "
          f"over {len(creates)}; target 1 s -> {create:.2f}x target")
    cap = statistics.median(captures)
    print(f"capture of a 5 MB sandbox: median {cap:.3f} s, max {max(captures):.3f} s over {len(captures)}; "
          f"target 2 s -> {cap / 2:.2f}x target")


if __name__ == "__main__":
    main()
