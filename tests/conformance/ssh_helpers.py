"""Real SSH to emulated instances, with the host key pinned (no trust on first use)."""

from __future__ import annotations

import base64
import io
import time

import paramiko
import yaml


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def wait_status(instance, status: str, timeout: float = 15.0) -> None:
    def reached() -> bool:
        instance.invalidate()
        return instance.status == status

    wait_for(reached, timeout)


def host_key_user_data(host_key: paramiko.PKey) -> str:
    """cloud-init user data that sets the instance's ed25519 host key, base64'd for ``metadata``."""
    private = io.StringIO()
    host_key.write_private_key(private)
    config = {"ssh_keys": {"ed25519_private": private.getvalue(),
                           "ed25519_public": f"{host_key.get_name()} {host_key.get_base64()}"}}
    return base64.b64encode(("#cloud-config\n" + yaml.safe_dump(config)).encode()).decode()


def ssh_endpoint(instance) -> tuple[str, int]:
    instance.invalidate()
    return instance.ipv4[0], int(instance._raw_json.get("ssh_port", 22))


def connect(instance, client_key: paramiko.PKey, host_key: paramiko.PKey) -> paramiko.SSHClient:
    address, port = ssh_endpoint(instance)
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    name = address if port == 22 else f"[{address}]:{port}"
    ssh.get_host_keys().add(name, host_key.get_name(), host_key)
    ssh.connect(address, port=port, username="root", pkey=client_key, timeout=10,
                allow_agent=False, look_for_keys=False)
    return ssh


def run(ssh: paramiko.SSHClient, command: str) -> tuple[int, str, str]:
    _, stdout, stderr = ssh.exec_command(command, timeout=30)
    out, err = stdout.read().decode(), stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err
