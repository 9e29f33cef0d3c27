"""Emulated instances with a pinned host key, and `Remote`s connected to them."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stager.remote import (
    KeyPair,
    Remote,
    SshTarget,
    host_key_cloud_config,
    new_key_pair,
)


@dataclass
class Instance:
    id: int
    api: object  # the linode_api4 Instance
    host_key: KeyPair
    client_key: KeyPair

    def target(self, *, host_key: KeyPair | None = None, client_key: KeyPair | None = None) -> SshTarget:
        """Where its SSH listens; the API answers ``ssh_port`` when port 22 was taken."""
        self.api.invalidate()
        port = int(self.api._raw_json.get("ssh_port", 22))
        return SshTarget(address=self.api.ipv4[0], port=port, user="root",
                         host_key=(host_key or self.host_key).public_line,
                         client_key=client_key or self.client_key)


@dataclass
class Console:
    """What a `Remote` showed: the lines given to ``on_line`` and the log file."""

    log_file: Path
    lines: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def client_key() -> KeyPair:
    return new_key_pair("stager-test")


@pytest.fixture
def make_instance(emulator, client_key):
    """Factory: an instance whose host key is pinned through cloud-init; every one is deleted after the test."""
    api = emulator.client()
    made = []

    def make(*, wait: bool = True) -> Instance:
        host_key = new_key_pair("host")
        user_data = base64.b64encode(host_key_cloud_config(host_key).encode()).decode()
        created = api.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04",
                                             authorized_keys=[client_key.public_line],
                                             metadata={"user_data": user_data})
        linode = created[0] if isinstance(created, tuple) else created
        made.append(linode)
        instance = Instance(id=linode.id, api=linode, host_key=host_key, client_key=client_key)
        if wait:
            deadline = time.monotonic() + 15
            while linode.status != "running":
                assert time.monotonic() < deadline, f"instance {linode.id} never reached running"
                time.sleep(0.02)
                linode.invalidate()
        return instance

    try:
        yield make
    finally:
        for linode in made:
            linode.delete()


@pytest.fixture
def instance(make_instance) -> Instance:
    return make_instance()


@pytest.fixture
def console(tmp_path) -> Console:
    return Console(log_file=tmp_path / "logs" / "remote.log")


@pytest.fixture
def remote(instance, console):
    """A `Remote` on ``instance``, ready, streaming to ``console``."""
    with Remote(instance.target(), log_file=console.log_file, on_line=console.lines.append) as connected:
        connected.wait_until_ready(timeout=15)
        yield connected
