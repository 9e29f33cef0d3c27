"""Line splitting, the command log and the messages of remote errors."""

from __future__ import annotations

import threading

from stager.errors import JobFailed
from stager.remote.errors import (
    CommandTimedOut,
    HostKeyMismatch,
    JobAlreadyRunning,
    RemoteCommandFailed,
    RemoteError,
    SshTimeout,
    TransferError,
)
from stager.remote.output import TAIL_LINES, CommandLog, LineSplitter, new_tail, tail_of


def collect(chunks: list[str]) -> list[str]:
    lines: list[str] = []
    splitter = LineSplitter(CommandLog(None, lines.append), new_tail())
    for chunk in chunks:
        splitter.write(chunk)
    splitter.finish()
    return lines


def test_lines_are_cut_wherever_the_chunks_end():
    assert collect(["ab", "c\nde", "f\n\ng"]) == ["abc", "def", "", "g"]
    assert collect(["a\r", "\nb\r\n"]) == ["a", "b"]  # a \r\n split across chunks is one line end
    assert collect(["10%\r50%\r100%\n"]) == ["10%", "50%", "100%"]
    assert collect(["no newline at all"]) == ["no newline at all"]
    assert collect([""]) == []


def test_the_tail_keeps_the_last_lines_in_order():
    text = "".join(f"line {i}\n" for i in range(50))
    assert tail_of(text) == tuple(f"line {i}" for i in range(50 - TAIL_LINES, 50))
    assert tail_of("out\n", "err") == ("out", "err")


def test_the_log_file_gets_headings_notes_and_lines(tmp_path):
    path = tmp_path / "deep" / "remote.log"
    shown: list[str] = []
    log = CommandLog(path, shown.append)
    log.heading("echo hi")
    log.line("hi")
    log.note("reconnected")
    log.close()
    CommandLog(path, None).line("appended")
    assert path.read_text() == "$ echo hi\nhi\n# reconnected\nappended\n"
    assert shown == ["hi"]


def test_lines_from_two_threads_never_interleave_within_a_line(tmp_path):
    path = tmp_path / "log"
    log = CommandLog(path, None)

    def write(tag: str) -> None:
        for i in range(300):
            log.line(f"{tag}-{i}-" + tag * 50)

    threads = [threading.Thread(target=write, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 600
    assert all(line.endswith(line[0] * 50) for line in lines)


def test_error_messages_say_what_happened_in_one_line():
    failed = RemoteCommandFailed("train --config x", 3, ("epoch 1", "Traceback", "KeyError: 'lr'"))
    assert str(failed) == "`train --config x` exited with 3; last output: epoch 1 | Traceback | KeyError: 'lr'"
    assert (failed.command, failed.exit_code, failed.tail) == ("train --config x", 3, ("epoch 1", "Traceback", "KeyError: 'lr'"))
    assert str(RemoteCommandFailed("true", 1, ())) == "`true` exited with 1; last output: (none)"
    mismatch = HostKeyMismatch("127.0.0.9", 2222, expected="SHA256:aaa", offered="SHA256:bbb")
    assert "127.0.0.9 port 2222" in str(mismatch)
    assert "SHA256:aaa" in str(mismatch) and "SHA256:bbb" in str(mismatch)
    assert str(mismatch).endswith("refusing to connect")
    waited = SshTimeout("SSH on root@127.0.0.9 port 22 to run commands", seconds=5, last_error="connection refused")
    assert str(waited) == ("timed out after 5 s waiting for SSH on root@127.0.0.9 port 22 to run commands; "
                           "last error: connection refused")
    timed_out = CommandTimedOut("sleep 9", seconds=0.5, tail=("zzz",))
    assert isinstance(timed_out, SshTimeout) and "`sleep 9`" in str(timed_out) and "zzz" in str(timed_out)
    for error in (failed, mismatch, waited, timed_out, TransferError("x", path="p"), JobAlreadyRunning("t", "w")):
        assert isinstance(error, RemoteError) and isinstance(error, JobFailed)
        assert "\n" not in str(error)
