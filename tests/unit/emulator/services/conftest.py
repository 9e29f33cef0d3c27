"""An emulator API (no S3 endpoint) driven by the real linode_api4 client."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from linode_api4 import LinodeClient

from stager.emulator.app import ApiApplication
from stager.emulator.backend import Backend
from stager.emulator.core.http import HttpServer


@dataclass
class Api:
    backend: Backend
    server: HttpServer
    client: LinodeClient
    state_dir: Path
    stopped: bool = False

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no scheduled status change is pending."""
        deadline = time.monotonic() + timeout
        while not self.backend.scheduler.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.02)  # the last action may still be running after the heap emptied

    def client_for(self, scopes: str) -> LinodeClient:
        token = self.backend.tokens.add(scopes, "scoped").token
        return LinodeClient(token, base_url=self.server.url + "/v4", retry=False)

    def instance(self, label: str, region: str = "us-east", *, booted: bool = False):
        """An instance; ``booted`` gives it an image and a running sandbox (SSH)."""
        if booted:
            instance = self.client.linode.instance_create(
                "g6-nanode-1", region, image="linode/ubuntu24.04", label=label, root_pass="Secret-pass-1234")
            deadline = time.monotonic() + 15
            while self.backend.instances.host(instance.id) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert self.backend.instances.host(instance.id) is not None, "the sandbox did not start"
            return instance
        return self.client.linode.instance_create("g6-nanode-1", region, label=label)


    def stop(self) -> None:
        """Stop serving and shut the backend down (state stays on disk); idempotent."""
        if not self.stopped:
            self.stopped = True
            self.server.stop()
            self.backend.shutdown()


def _start(state_dir: Path) -> Api:
    backend = Backend(state_dir, rate_limits=False)
    server = HttpServer(ApiApplication(backend))
    server.start()
    client = LinodeClient(backend.default_token, base_url=server.url + "/v4", retry=False)
    return Api(backend, server, client, state_dir)


@pytest.fixture
def make_api():
    """``make_api(state_dir) -> Api``; every one started is stopped at teardown."""
    started: list[Api] = []

    def make(state_dir: Path) -> Api:
        started.append(_start(state_dir))
        return started[-1]

    try:
        yield make
    finally:
        for one in started:
            one.stop()


@pytest.fixture
def api(make_api, tmp_path):
    return make_api(tmp_path / "state")
