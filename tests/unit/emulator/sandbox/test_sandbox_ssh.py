"""SSH exec, auth and volumes against real SandboxHost servers on loopback."""

from __future__ import annotations

import threading
import time

import paramiko
import pytest

from stager.emulator.sandbox import SandboxHost, new_host_key


def run(client: paramiko.SSHClient, command: str, **kwargs) -> tuple[int, str, str]:
    _, out, err = client.exec_command(command, timeout=10, **kwargs)
    stdout, stderr = out.read().decode(), err.read().decode()
    return out.channel.recv_exit_status(), stdout, stderr


# -- auth -------------------------------------------------------------------------


def test_authorized_key_is_accepted(host, ssh):
    assert run(ssh(host), "echo ok") == (0, "ok\n", "")


def test_wrong_key_is_refused(host, ssh):
    with pytest.raises(paramiko.AuthenticationException):
        ssh(host, key=new_host_key())


def test_password_is_refused(host, ssh):
    with pytest.raises(paramiko.AuthenticationException):
        ssh(host, pkey=None, password="root")


def test_only_root_may_log_in(host, ssh):
    with pytest.raises(paramiko.AuthenticationException):
        ssh(host, username="ubuntu")


def test_authorized_keys_accept_options_comments_and_other_key_types(make_host, ssh):
    rsa = paramiko.RSAKey.generate(1024)
    lines = ["# a comment", "", f'from="127.0.0.1" {rsa.get_name()} {rsa.get_base64()} rsa@test']
    host = make_host(authorized_keys=lines)
    assert run(ssh(host, key=rsa), "echo rsa")[1] == "rsa\n"


def test_malformed_authorized_key_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="authorized key 1"):
        SandboxHost(
            tmp_path / "sb", instance_id=1, address="127.0.0.1", authorized_keys=["ssh-ed25519 bm9wZQ=="],
            host_key=new_host_key(),
        )


# -- exec -------------------------------------------------------------------------


def test_exit_code_stdout_and_stderr(host, ssh):
    assert run(ssh(host), "echo out; echo err >&2; exit 7") == (7, "out\n", "err\n")


def test_command_runs_in_home_with_sandbox_env(host, ssh):
    code, out, _ = run(ssh(host), 'pwd; echo "$HOME|$USER|$LANG|$STAGER_SANDBOX|$STAGER_SANDBOX_ID"')
    home = host.root / "root"
    assert code == 0
    assert out == f"{home}\n{home}|root|C.UTF-8|{host.root}|{host.instance_id}\n"


def test_client_env_requests_are_applied(host, ssh):
    _, out, _ = run(ssh(host), 'echo "$FOO"', environment={"FOO": "bar baz"})
    assert out == "bar baz\n"


def test_stdin_reaches_the_command(host, ssh):
    stdin, out, _ = ssh(host).exec_command("tr a-z A-Z")
    stdin.write("hello\n")
    stdin.channel.shutdown_write()
    assert out.read() == b"HELLO\n"
    assert out.channel.recv_exit_status() == 0


def test_output_streams_before_the_command_ends(host, ssh):
    _, out, _ = ssh(host).exec_command("echo first; sleep 5; echo second")
    started = time.monotonic()
    assert out.readline() == "first\n"
    assert time.monotonic() - started < 2
    assert not out.channel.exit_status_ready()


def test_pty_gives_a_terminal(host, ssh):
    code, out, _ = run(ssh(host), "tty; echo $TERM; echo err >&2", get_pty=True)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("/dev/pts/")
    assert lines[2] == "err"  # stderr is merged into the terminal


def test_pty_size_and_resize(host, ssh):
    channel = ssh(host).get_transport().open_session()
    channel.get_pty(width=100, height=30)
    channel.exec_command("stty size; read _; stty size")
    assert channel.makefile().readline().strip() == "30 100"
    channel.resize_pty(width=120, height=40)
    channel.sendall(b"\n")
    output = b""
    while chunk := channel.recv(4096):
        output += chunk
    assert output.split()[-2:] == [b"40", b"120"]


def test_shell_without_pty_reads_commands_from_stdin(host, ssh):
    channel = ssh(host).get_transport().open_session()
    channel.invoke_shell()
    channel.sendall(b"echo $((2+3))\nexit 4\n")
    assert channel.makefile().read() == b"5\n"
    assert channel.recv_exit_status() == 4


def test_interactive_shell(host, ssh):
    channel = ssh(host).invoke_shell()
    channel.sendall(b"echo hi-$((6*7)); exit 5\n")
    output = b""
    while chunk := channel.recv(4096):
        output += chunk
    assert b"hi-42" in output
    assert channel.recv_exit_status() == 5


def test_many_connections_at_once(host, ssh):
    clients = [ssh(host) for _ in range(6)]
    results = {}

    def work(i, client):
        results[i] = run(client, f"sleep 0.3; echo {i}")

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert time.monotonic() - started < 3
    assert results == {i: (0, f"{i}\n", "") for i in range(6)}


def test_fabric_run(host, fab):
    result = fab(host).run("echo via fabric; exit 3", hide=True, warn=True, in_stream=False)
    assert (result.exited, result.stdout) == (3, "via fabric\n")


# -- host lifecycle -------------------------------------------------------------


def test_start_answers_quickly_and_stop_refuses_new_connections(make_host, ssh):
    host = make_host(start=False)
    started = time.monotonic()
    host.start()
    assert run(ssh(host), "true")[0] == 0
    assert time.monotonic() - started < 1
    address, port = host.address, host.port
    host.stop()
    host.stop()  # idempotent
    assert host.port is None
    with pytest.raises(OSError):
        client = paramiko.SSHClient()
        try:
            client.connect(address, port, timeout=2, look_for_keys=False, allow_agent=False)
        finally:
            client.close()


def test_restart_after_stop(make_host, ssh):
    host = make_host()
    host.stop()
    host.start()
    assert run(ssh(host), "echo again")[1] == "again\n"


def test_second_host_on_a_taken_port_gets_another(make_host, ssh):
    first = make_host()
    second = make_host(address=first.address)
    assert second.port != first.port
    assert run(ssh(second), "echo two")[1] == "two\n"


def test_explicit_port(make_host, ssh):
    host = make_host(start=False)
    port = host.start(0)
    assert port == host.port and port > 0
    assert host.start() == port  # already running: same port


# -- volumes ------------------------------------------------------------------------


def test_volume_attach_and_detach_seen_inside(host, ssh, tmp_path):
    volume = tmp_path / "vol-data"
    volume.mkdir()
    (volume / "shard-0.bin").write_bytes(b"x")
    assert host.attach_volume("data", volume) == "/mnt/data"
    client = ssh(host)
    assert run(client, "ls ../mnt/data")[1] == "shard-0.bin\n"
    assert run(client, 'ls "$STAGER_SANDBOX/dev/disk/by-id/scsi-0Linode_Volume_data"')[1] == "shard-0.bin\n"
    host.detach_volume("data")
    host.detach_volume("data")  # idempotent
    assert run(client, "ls ../mnt")[1] == ""
    assert (volume / "shard-0.bin").exists()


def test_bad_volume_label(host, tmp_path):
    with pytest.raises(ValueError, match="invalid volume label"):
        host.attach_volume("../x", tmp_path)
