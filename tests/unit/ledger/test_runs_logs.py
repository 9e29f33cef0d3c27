"""`stager runs logs`: a run's log whole, its last lines, and followed until the run ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from stager.audit.logs import follow, last_lines


def _stager(ledger_path, runs_dir, *args: str) -> list[str]:
    return [sys.executable, "-m", "stager", "runs", "logs", *args, "--ledger", str(ledger_path),
            "--runs-dir", str(runs_dir)]


def _env(tmp_path) -> dict:
    return {**os.environ, "STAGER_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def run_with_log(tmp_path, make_run):
    run_id = make_run()
    log = tmp_path / "runs" / run_id / "logs" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"step {n} loss {1 / (n + 1):.3f}\n" for n in range(10)))
    return run_id, log


def test_prints_the_whole_log_and_its_last_lines(tmp_path, ledger_path, run_with_log):
    run_id, log = run_with_log
    whole = subprocess.run(_stager(ledger_path, tmp_path / "runs", run_id[:8]), capture_output=True, text=True,
                           env=_env(tmp_path), timeout=60)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout == log.read_text()
    last = subprocess.run(_stager(ledger_path, tmp_path / "runs", run_id, "--tail", "2"), capture_output=True,
                          text=True, env=_env(tmp_path), timeout=60)
    assert last.stdout == "step 8 loss 0.111\nstep 9 loss 0.100\n"


def test_follow_prints_what_is_appended_and_stops_when_the_run_ends(tmp_path, ledger, ledger_path, run_with_log):
    run_id, log = run_with_log
    ledger.transition(run_id, "training")
    process = subprocess.Popen(_stager(ledger_path, tmp_path / "runs", run_id, "--follow", "--tail", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        assert process.stdout.readline() == "step 9 loss 0.100\n"
        with open(log, "a") as out:
            out.write("step 10 loss 0.091\n")
        assert process.stdout.readline() == "step 10 loss 0.091\n"
        time.sleep(0.3)
        assert process.poll() is None, "following stopped while the run was still training"
        with open(log, "a") as out:
            out.write("training done\n")
        for state in ("collecting", "tearing_down", "succeeded"):
            ledger.transition(run_id, state)
        rest, errors = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, errors
    assert rest == "training done\n"


def test_record_lines_read_as_text_unless_raw(tmp_path, ledger_path, make_run):
    run_id = make_run()
    log = tmp_path / "runs" / run_id / "logs" / "train.log"
    log.parent.mkdir(parents=True)
    record = '@stager {"event":"epoch","epoch":1,"step":40,"metrics":{"train_loss":0.25,"val_acc":0.9}}'
    log.write_text(f"pulled 4 file(s)\n{record}\n")
    shown = subprocess.run(_stager(ledger_path, tmp_path / "runs", run_id), capture_output=True, text=True,
                           env=_env(tmp_path), timeout=60)
    assert shown.stdout == "pulled 4 file(s)\n[epoch] epoch 1 step 40: train_loss 0.25 val_acc 0.9\n"
    raw = subprocess.run(_stager(ledger_path, tmp_path / "runs", run_id, "--raw", "--tail", "1"),
                         capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert raw.stdout == record + "\n"


def test_a_missing_log_and_an_unknown_run_are_one_line_each(tmp_path, ledger_path, make_run):
    run_id = make_run()
    for args, expected in (((run_id,), "has no train log"), (("r-nosuchrun",), "no run r-nosuchrun"),
                           ((run_id, "--log", "gpu"), "--log gpu: unknown log")):
        done = subprocess.run(_stager(ledger_path, tmp_path / "runs", *args), capture_output=True, text=True,
                              env=_env(tmp_path), timeout=60)
        assert done.returncode == 2
        assert expected in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr


def test_last_lines_reads_bounded_and_says_where_they_end(tmp_path):
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(100_000)) + b"partial")
    lines, end = last_lines(log, 3)
    assert lines == ["line 99998\n", "line 99999\n", "partial"]
    assert end == log.stat().st_size


def test_follow_waits_for_the_file_and_keeps_split_characters_whole(tmp_path):
    log = tmp_path / "train.log"
    checks = iter([False, False, False, True])
    writes = iter([b"", "\u00e9t".encode()[:1], "\u00e9t\n".encode()[1:]])

    def tick(_seconds: float) -> None:  # the run writes between two polls
        chunk = next(writes, None)
        if chunk is not None:
            with open(log, "ab") as out:
                out.write(chunk)

    text = "".join(follow(log, lambda: next(checks), poll_s=0, sleep=tick))
    assert text == "\u00e9t\n"
