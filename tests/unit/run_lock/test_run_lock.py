"""The controller's run lock: held by a live process, dropped by the kernel when it dies."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from stager.errors import UsageError
from stager.run.lock import RunLock, controller_alive, lock_path

HOLD = """
import sys, time
from pathlib import Path
from stager.run.lock import RunLock
RunLock(sys.argv[1], Path(sys.argv[2])).acquire()
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """``holder(run_id)`` -> a subprocess that holds the run's lock until killed."""
    started: list[subprocess.Popen] = []

    def start(run_id: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, run_id, str(tmp_path)], stdout=subprocess.PIPE,
                                text=True)
        started.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_a_live_holder_is_alive_and_refuses_others_until_killed(tmp_path, holder):
    proc = holder("r1")
    assert controller_alive("r1", tmp_path) is True
    assert lock_path("r1", tmp_path).read_text().strip() == str(proc.pid)
    with pytest.raises(UsageError, match=f"run r1 is already being run by process {proc.pid}"):
        RunLock("r1", tmp_path).acquire()

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert controller_alive("r1", tmp_path) is False
    with RunLock("r1", tmp_path) as lock:
        assert lock.held and controller_alive("r1", tmp_path) is True
    assert not lock.held and controller_alive("r1", tmp_path) is False


def test_two_locks_on_one_run_in_one_process_are_refused(tmp_path):
    first = RunLock("r1", tmp_path)
    first.acquire()
    try:
        with pytest.raises(UsageError, match="already being run by process"):
            RunLock("r1", tmp_path).acquire()
        with pytest.raises(UsageError, match="this one"):
            first.acquire()
        assert controller_alive("r2", tmp_path) is False  # other runs are free
        RunLock("r2", tmp_path).acquire()
    finally:
        first.release()
    first.release()  # twice is harmless
    RunLock("r1", tmp_path).acquire()


def test_no_lock_file_means_no_controller_and_nothing_is_created(tmp_path):
    assert controller_alive("r9", tmp_path) is False
    assert not (tmp_path / "locks").exists()


def test_the_lock_lives_under_stager_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGER_HOME", str(tmp_path / "home"))
    assert lock_path("r1") == tmp_path / "home" / "locks" / "r1.lock"
    with pytest.raises(UsageError, match="run id"):
        lock_path("../escape")
