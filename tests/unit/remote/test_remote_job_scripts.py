"""Detached-job scripts run by a local bash: the files they keep and the decisions they make."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from stager.remote.jobs import (
    _ALREADY_RUNNING,
    DetachedJob,
    _parse_status,
    _start_script,
    _status_script,
    job_dir,
)


def bash(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=home, capture_output=True, text=True, check=False, timeout=30)


def start(home: Path, cmd: str, name: str = "job") -> DetachedJob:
    result = bash(_start_script(cmd, name=name, workdir="work", record=f"shown: {name}"), home)
    assert result.returncode == 0, result.stderr
    return DetachedJob(name=name, job_dir=job_dir("work", name), pid=int(result.stdout))


def wait_for_exit(home: Path, job: DetachedJob) -> str:
    path = home / job.job_dir / "exit"
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, "the job never recorded its exit"
        time.sleep(0.01)
    return path.read_text().strip()


def test_a_job_keeps_its_log_pid_cmd_and_exit(tmp_path):
    job = start(tmp_path, 'echo out; echo err >&2; pwd; exit 3')
    assert wait_for_exit(tmp_path, job) == "3"
    files = tmp_path / "work" / ".stager-jobs" / "job"
    assert files.joinpath("log").read_text() == f"out\nerr\n{tmp_path / 'work'}\n"
    assert files.joinpath("cmd").read_text() == "shown: job\n"
    assert int(files.joinpath("pid").read_text()) == job.pid
    assert not any(p.name.endswith(".tmp") for p in files.iterdir())
    status = _parse_status(bash(_status_script(job), tmp_path).stdout)
    assert (status.running, status.exit_code, status.log_size) == (False, 3, len(b"out\nerr\n") + len(str(tmp_path / "work")) + 1)


def test_the_job_leads_its_own_process_group_and_session(tmp_path):
    job = start(tmp_path, "sleep 5")
    try:
        assert os.getpgid(job.pid) == job.pid
        assert os.getsid(job.pid) == job.pid
        status = _parse_status(bash(_status_script(job), tmp_path).stdout)
        assert status.running and status.exit_code is None
    finally:
        os.killpg(job.pid, 15)
    assert wait_for_exit(tmp_path, job) == "143"


def test_a_second_start_of_a_running_job_is_refused_and_an_ended_one_restarts(tmp_path):
    job = start(tmp_path, "sleep 5")
    try:
        again = bash(_start_script("touch started-twice", name="job", workdir="work", record="x"), tmp_path)
        assert again.returncode == _ALREADY_RUNNING
        assert not (tmp_path / "work" / "started-twice").exists()
    finally:
        os.killpg(job.pid, 15)
    wait_for_exit(tmp_path, job)
    second = start(tmp_path, "echo second")
    assert second.pid != job.pid
    assert wait_for_exit(tmp_path, second) == "0"
    assert (tmp_path / second.job_dir / "log").read_text() == "second\n"  # the old log is gone


def test_a_job_with_no_files_reads_as_not_running(tmp_path):
    status = _parse_status(bash(_status_script(DetachedJob("gone", "work/.stager-jobs/gone", 2**22 + 7)), tmp_path).stdout)
    assert (status.running, status.exit_code, status.log_size) == (False, None, 0)


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "a b", "x" * 101, "$(x)"])
def test_job_names_must_be_plain(name):
    with pytest.raises(ValueError, match="job name"):
        job_dir("work", name)


def test_a_job_that_died_with_its_runner_is_not_running_and_can_start_again(tmp_path):
    job = start(tmp_path, "sleep 30")
    runner = int((tmp_path / job.job_dir / "runner").read_text())
    os.kill(runner, 9)
    os.killpg(job.pid, 9)
    deadline = time.monotonic() + 5
    while True:  # dead, or a zombie no one reaps: either way no longer alive
        status = _parse_status(bash(_status_script(job), tmp_path).stdout)
        if not status.running or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert (status.running, status.exit_code) == (False, None)
    again = start(tmp_path, "echo fresh")
    assert wait_for_exit(tmp_path, again) == "0"
