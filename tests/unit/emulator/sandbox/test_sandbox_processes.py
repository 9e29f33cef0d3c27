"""Process lifetime in a sandbox: SIGHUP on disconnect, detached jobs, kills and dropped connections."""

from __future__ import annotations

import time

import pytest


def _pids(stdout, count: int) -> list[int]:
    return [int(stdout.readline()) for _ in range(count)]


def _command_name(pid: int) -> str | None:
    """What ``pid`` runs now (``nohup`` until it has set SIGHUP aside and exec'd its command)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def test_foreground_command_dies_and_nohup_job_survives_a_disconnect(host, ssh, proc_tools):
    alive, wait_until = proc_tools
    client = ssh(host)
    _, out, _ = client.exec_command(
        "nohup sleep 60 >/dev/null 2>&1 & echo $!; "
        "setsid sleep 60 >/dev/null 2>&1 </dev/null & echo $!; "
        "echo $$; sleep 60"
    )
    nohup_pid, setsid_pid, shell_pid = _pids(out, 3)
    # nohup ignores SIGHUP, and setsid leaves the session, only once they run: a hang-up before
    # then would kill them (a race on a busy machine).  Each has run once it has exec'd sleep.
    assert wait_until(lambda: _command_name(nohup_pid) == "sleep"), "nohup never ran its command"
    assert wait_until(lambda: _command_name(setsid_pid) == "sleep"), "setsid never ran its command"
    client.close()
    assert wait_until(lambda: not alive(shell_pid)), "foreground command survived the disconnect"
    assert alive(nohup_pid) and alive(setsid_pid)
    assert host.kill_processes() == 2
    assert wait_until(lambda: not alive(nohup_pid) and not alive(setsid_pid))


def test_closing_the_channel_hangs_up_the_command(host, ssh, proc_tools):
    alive, wait_until = proc_tools
    client = ssh(host)
    _, out, _ = client.exec_command("echo $$; exec sleep 60")
    (pid,) = _pids(out, 1)
    out.channel.close()
    assert wait_until(lambda: not alive(pid))
    assert client.get_transport().is_active()  # only the channel went away


def test_kill_processes_finds_detached_processes_only_of_its_sandbox(make_host, ssh, proc_tools):
    alive, wait_until = proc_tools
    mine, other = make_host(), make_host()
    pids = {}
    for host in (mine, other):
        _, out, _ = ssh(host).exec_command("setsid sleep 60 >/dev/null 2>&1 </dev/null & echo $!")
        pids[host] = int(out.readline())
        assert out.channel.recv_exit_status() == 0
    assert mine.kill_processes() == 1
    assert wait_until(lambda: not alive(pids[mine]))
    assert alive(pids[other])
    assert mine.kill_processes() == 0


def test_stop_kills_every_process(host, ssh, proc_tools):
    alive, wait_until = proc_tools
    _, out, _ = ssh(host).exec_command("nohup sleep 60 >/dev/null 2>&1 & echo $!; sleep 60")
    (pid,) = _pids(out, 1)
    host.stop()
    assert wait_until(lambda: not alive(pid))


def test_drop_connections_cuts_a_running_command(host, ssh, proc_tools):
    alive, wait_until = proc_tools
    client = ssh(host)
    _, out, _ = client.exec_command("echo $$; sleep 60")
    (pid,) = _pids(out, 1)
    assert host.drop_connections() == 1
    assert out.read() == b""
    assert out.channel.recv_exit_status() == -1  # no exit status: the connection died
    assert wait_until(lambda: not client.get_transport().is_active())
    assert wait_until(lambda: not alive(pid))
    # The instance itself is still up.
    _, out, _ = ssh(host).exec_command("echo back")
    assert out.read() == b"back\n"


def test_arm_drop_drops_the_next_command_mid_run(host, fab):
    host.arm_drop(0.3)
    started = time.monotonic()
    result = fab(host).run("echo started; sleep 10", hide=True, warn=True, in_stream=False)
    assert time.monotonic() - started < 5
    assert result.stdout == "started\n"
    assert result.exited == -1
    # Armed once: the next command on a fresh connection runs to the end.
    assert fab(host).run("sleep 0.5; echo done", hide=True, in_stream=False).stdout == "done\n"


@pytest.mark.parametrize("pty", [False, True])
def test_background_job_holding_stdout_keeps_the_channel_open_like_sshd(host, ssh, pty):
    _, out, _ = ssh(host).exec_command("sleep 0.6 & echo quick", get_pty=pty)
    started = time.monotonic()
    assert out.read().strip() == b"quick"
    took = time.monotonic() - started
    if pty:
        assert took < 0.5  # the pty session ends with its shell; the job is hung up
    else:
        assert took >= 0.5  # the job holds the pipe: ssh host 'cmd &' waits, as with sshd
    assert out.channel.recv_exit_status() == 0
