"""Running commands: streamed output, the log file, failures, secrets and timeouts."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from stager.remote import CommandTimedOut, Remote, RemoteCommandFailed, SshTimeout


def test_output_streams_line_by_line_while_the_command_runs(instance):
    seen_at: list[tuple[str, float]] = []
    with Remote(instance.target(), on_line=lambda line: seen_at.append((line, time.monotonic()))) as remote:
        started = time.monotonic()
        result = remote.run("echo first; sleep 0.8; echo second")
        ended = time.monotonic()
    assert [line for line, _ in seen_at] == ["first", "second"]
    assert seen_at[0][1] - started < ended - started - 0.5  # shown long before the end
    assert (result.exit_code, result.stdout, result.tail) == (0, "first\nsecond\n", ("first", "second"))


def test_stdout_and_stderr_reach_the_console_and_the_log(remote, console):
    result = remote.run("echo out; echo err >&2; printf 'no newline'", check=False)
    assert sorted(console.lines) == ["err", "no newline", "out"]
    assert (result.stdout, result.stderr) == ("out\nno newline", "err\n")
    log = console.log_file.read_text()
    assert "$ echo out; echo err >&2; printf 'no newline'\n" in log
    assert "out\n" in log and "err\n" in log and "no newline\n" in log


def test_without_streaming_the_console_stays_quiet_and_the_log_gets_the_output_after(remote, console):
    result = remote.run("echo quiet; echo noisy >&2", stream=False)
    assert console.lines == []
    assert result.tail == ("quiet", "noisy")
    assert console.log_file.read_text().endswith("$ echo quiet; echo noisy >&2\nquiet\nnoisy\n")


def test_a_failure_names_the_command_its_status_and_its_last_lines(remote, console):
    with pytest.raises(RemoteCommandFailed) as caught:
        remote.run("for i in $(seq 1 30); do echo line $i; done; sleep 0.2; echo boom >&2; exit 3")
    failure = caught.value
    assert failure.exit_code == 3
    assert failure.tail == tuple(f"line {i}" for i in range(12, 31)) + ("boom",)
    assert str(failure).startswith("`for i in $(seq 1 30); do echo line $i; done; sleep 0.2; echo boom >&2; exit 3` exited with 3")
    assert str(failure).endswith("line 29 | line 30 | boom")
    assert len(console.lines) == 31
    unchecked = remote.run("exit 4", check=False, stream=False)
    assert unchecked.exit_code == 4


def test_display_keeps_a_secret_out_of_logs_results_and_errors(remote, console):
    secret = "tok-3f9a1c-SECRET"
    result = remote.run(f"echo ok # {secret}", display="echo ok # <token>")
    assert secret not in repr(result) and result.command == "echo ok # <token>"
    with pytest.raises(RemoteCommandFailed) as caught:
        remote.run(f"false {secret}", display="false <token>")
    with pytest.raises(CommandTimedOut) as timed_out:
        remote.run(f"sleep 5 # {secret}", display="sleep <token>", timeout=0.3)
    for error in (caught.value, timed_out.value):
        assert secret not in str(error) and secret not in repr(error)
        assert error.__cause__ is None and error.__context__ is None  # no invoke exception holding the command
    assert secret not in console.log_file.read_text()


def test_a_command_past_its_timeout_is_stopped_and_the_connection_stays_usable(remote):
    started = time.monotonic()
    with pytest.raises(SshTimeout) as caught:
        remote.run("echo started; sleep 20; touch finished", timeout=0.5)
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, CommandTimedOut) and caught.value.tail == ("started",)
    assert "timed out after 0.5 s waiting for `echo started; sleep 20; touch finished` to finish" in str(caught.value)
    assert remote.run("echo still here", stream=False).stdout == "still here\n"
    time.sleep(0.2)
    assert remote.run("test -e finished", check=False).exit_code == 1


def test_stdin_is_empty_so_a_reader_does_not_hang(remote):
    assert remote.run("cat; echo done", stream=False, timeout=5).stdout == "done\n"


def test_utf8_survives_any_chunking(remote, console):
    text = "é✓日本" * 5000
    result = remote.run(f"printf '%s\\n' {text}")
    assert result.stdout == text + "\n"
    assert console.lines == [text]


def test_ctrl_c_stops_waiting_at_once_and_hangs_the_command_up(remote):
    interrupter = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        remote.run("echo $$ > sleeper.pid; exec sleep 20")
    assert time.monotonic() - started < 3
    pid = remote.run("cat sleeper.pid", stream=False).stdout.strip()
    time.sleep(0.3)  # the sandbox checks for a vanished client every 0.1 s
    state = remote.run(f"awk '{{print $3}}' /proc/{pid}/stat 2>/dev/null || true", stream=False).stdout.strip()
    assert state in ("", "Z")
