"""Real sandbox hosts on loopback, and real paramiko/fabric clients for them."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import fabric
import paramiko
import pytest

from stager.emulator.sandbox import SandboxHost, new_host_key

_addresses = (f"127.0.{n // 150}.{100 + n % 150}" for n in itertools.count())
_ids = itertools.count(9000)


@pytest.fixture(scope="session")
def client_key() -> paramiko.Ed25519Key:
    return new_host_key()


@pytest.fixture
def make_host(tmp_path: Path, client_key):
    """Factory: a started SandboxHost on its own loopback address; all are stopped after the test."""
    hosts: list[SandboxHost] = []

    def make(*, host_key=None, authorized_keys=None, start=True, address=None) -> SandboxHost:
        instance_id = next(_ids)
        host = SandboxHost(
            tmp_path / f"sandbox-{instance_id}",
            instance_id=instance_id,
            address=address or next(_addresses),
            authorized_keys=authorized_keys
            if authorized_keys is not None
            else [f"{client_key.get_name()} {client_key.get_base64()} test@stager"],
            host_key=host_key or new_host_key(),
        )
        hosts.append(host)
        if start:
            host.start()
        return host

    yield make
    for host in hosts:
        host.stop()


@pytest.fixture
def host(make_host) -> SandboxHost:
    return make_host()


@pytest.fixture
def ssh(client_key):
    """Factory: a connected paramiko SSHClient (closed after the test)."""
    clients: list[paramiko.SSHClient] = []

    def connect(host: SandboxHost, *, key=None, **kwargs) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        clients.append(client)
        options = {"username": "root", "pkey": key or client_key, "look_for_keys": False, "allow_agent": False}
        options.update(kwargs)
        client.connect(host.address, host.port, timeout=5, **options)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def fab(client_key):
    """Factory: a fabric Connection to a host (closed after the test)."""
    conns: list[fabric.Connection] = []

    def connect(host: SandboxHost) -> fabric.Connection:
        conn = fabric.Connection(
            host.address,
            user="root",
            port=host.port,
            connect_timeout=5,
            connect_kwargs={"pkey": client_key, "look_for_keys": False, "allow_agent": False},
        )
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves sandbox or paramiko threads behind."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while True:
        leaked = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads leaked: {leaked}"


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def proc_tools():
    """``process_alive`` and ``wait_until`` for tests (conftest is not importable here)."""
    return process_alive, wait_until
