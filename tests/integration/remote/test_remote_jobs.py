"""Detached jobs on an emulated instance: surviving drops, no duplicates, attach and kill."""

from __future__ import annotations

import threading

import pytest

from stager.remote import JobAlreadyRunning, Remote

COUNT_TO_40 = "for i in $(seq 1 40); do echo line $i; sleep 0.05; done; echo 'last line, no newline' | tr -d '\\n'; exit 7"
EXPECTED = [f"line {i}" for i in range(1, 41)] + ["last line, no newline"]


def test_follow_reconnects_through_drops_and_shows_every_line_once(emulator, instance, remote, console):
    job = remote.start_detached(COUNT_TO_40, name="train", workdir="work")
    emulator.drop_ssh(instance.id, after_s=0.4)  # cuts the connection 0.4 s into follow's first poll
    second_drop = threading.Timer(1.3, emulator.drop_ssh, args=(instance.id,))
    second_drop.start()
    try:
        exit_code = remote.follow(job, timeout=30, poll=0.1)
    finally:
        second_drop.cancel()
    assert exit_code == 7
    assert remote.reconnects >= 2
    assert console.lines == EXPECTED
    logged = console.log_file.read_text().splitlines()
    assert [line for line in logged if line in EXPECTED] == EXPECTED
    assert logged.count("# reconnected to " + instance.target().where) == remote.reconnects
    status = remote.job_status(job)
    assert (status.running, status.exit_code) == (False, 7)
    assert remote.run("cat work/.stager-jobs/train/log", stream=False).stdout.count("line 1\n") == 1


def test_follow_from_an_offset_shows_only_what_comes_after(remote, console):
    job = remote.start_detached("printf 'one\\ntwo\\nthree\\n'", name="short", workdir="work")
    assert remote.follow(job, timeout=10) == 0
    console.lines.clear()
    assert remote.follow(job, offset=len("one\n")) == 0
    assert console.lines == ["two", "three"]


def test_a_running_job_cannot_be_started_twice(remote):
    job = remote.start_detached("sleep 30", name="train", workdir="work")
    with pytest.raises(JobAlreadyRunning, match="'train' is already running in work/.stager-jobs/train"):
        remote.start_detached("touch second-start", name="train", workdir="work")
    assert remote.job_status(job).running
    assert remote.run("test -e work/second-start", check=False).exit_code == 1
    other = remote.start_detached("true", name="eval", workdir="work")  # another name is another job
    assert remote.follow(other, timeout=10) == 0
    remote.kill(job)
    assert remote.follow(job, timeout=10) == 143
    restarted = remote.start_detached("echo again", name="train", workdir="work")
    assert restarted.pid != job.pid
    assert remote.follow(restarted, timeout=10) == 0


def test_a_new_controller_attaches_by_name_and_follows_to_the_end(instance, remote, tmp_path):
    job = remote.start_detached("echo before; sleep 0.6; echo after; exit 5", name="train", workdir="work")
    remote.close()  # the controller goes away; the job does not
    lines: list[str] = []
    with Remote(instance.target(), on_line=lines.append) as restarted:
        restarted.wait_until_ready(timeout=10)
        assert restarted.attach(name="never-started", workdir="work") is None
        found = restarted.attach(name="train", workdir="work")
        assert found == job
        assert restarted.follow(found, timeout=10) == 5
    assert lines == ["before", "after"]


def test_kill_stops_the_whole_process_group(remote):
    job = remote.start_detached("sleep 30 & echo $! > child.pid; echo started; wait", name="sleepy", workdir="work")
    remote.run("until [ -s work/child.pid ]; do sleep 0.01; done", timeout=5)
    child = remote.run("cat work/child.pid", stream=False).stdout.strip()
    remote.kill(job)
    assert remote.follow(job, timeout=10) == 143
    # Gone, or a zombie waiting for a parent that does not reap: either way not running.
    state = remote.run(f"awk '{{print $3}}' /proc/{child}/stat 2>/dev/null || true", stream=False).stdout.strip()
    assert state in ("", "Z")
    remote.kill(job)  # an ended job: nothing to do, no error
    with pytest.raises(ValueError, match="not a signal"):
        remote.kill(job, "TERM; rm -rf x")


def test_follow_gives_up_after_its_timeout(remote):
    job = remote.start_detached("sleep 30", name="long", workdir="work")
    try:
        with pytest.raises(Exception, match="timed out after 0.5 s waiting for job long to finish"):
            remote.follow(job, timeout=0.5)
    finally:
        remote.kill(job, "KILL")
    assert remote.follow(job, timeout=10) == 137
