"""`stager gc` collects the SLURM jobs of runs whose controller is gone, on a real one-node SLURM cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lock_holder import hold_run_lock
from run_world import RunWorld

from stager.gc.sweep import FAILED_REASON
from stager.ledger import Ledger


class Workplace:
    """A STAGER_HOME with a ledger, jobs submitted to the test cluster, and `stager gc` to run."""

    def __init__(self, root: Path, cluster) -> None:
        self.root, self.home, self.cluster = root, root / "home", cluster
        self.ledger = Ledger.open(self.home / "ledger.sqlite")
        self.jobs: list[str] = []
        self.holders: list[subprocess.Popen] = []
        self.stderr = ""

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LINODE_", "STAGER_", "SLURM_"))}
        return {**env, **self.cluster.env(), "STAGER_HOME": str(self.home), "PYTHONUNBUFFERED": "1", **extra}

    def gc(self, *args: str, code: int = 0, **env: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "stager", "gc", "--json", *args], cwd=self.root,
                              env=self.env(**env), capture_output=True, text=True, timeout=300)
        assert proc.returncode == code, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        self.stderr = proc.stderr
        return json.loads(proc.stdout)

    def run(self, state: str = "training") -> str:
        run_id = self.ledger.create_run(pipeline="exp", pipeline_file="pipelines/exp.yaml", target="slurm",
                                        spec={}, versions={}, git=None)
        if state != "pending":
            self.ledger.transition(run_id, state)
        return run_id

    def submit(self, run_id: str, command: str = "sleep 300", *, record: bool = True) -> str:
        """A job as a run would submit it, recorded in the ledger as the run's slurm_job."""
        result = self.cluster.command("sbatch", "--parsable", f"--job-name=stager-{run_id}",
                                      f"--output={self.root / 'slurm-%j.out'}", f"--chdir={self.root}",
                                      "--wrap", command)
        assert result.returncode == 0, result.stderr
        job = result.stdout.strip().split(";")[0]
        self.jobs.append(job)
        if record:
            self.ledger.resource_created(run_id, kind="slurm_job", provider_id=job, label=f"stager-{run_id}")
        return job

    def hold(self, run_id: str) -> subprocess.Popen:
        """A live process holding the run's lock, as its controller would."""
        proc = hold_run_lock(run_id, self.home)
        self.holders.append(proc)
        return proc

    def queue_state(self, job: str) -> str:
        return self.cluster.command("squeue", "-h", "-j", job, "-o", "%T").stdout.strip()

    def wait_gone(self, job: str, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if job not in self.cluster.queued():
                return True
            time.sleep(0.2)
        return False

    def live_jobs(self) -> list[str]:
        return [r.provider_id for r in self.ledger.live_resources() if r.kind == "slurm_job"]

    def close(self) -> None:
        for proc in self.holders:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
        for job in self.jobs:  # nothing outlives the test: the other slurm tests expect an empty queue
            self.cluster.command("scancel", job)
        for job in self.jobs:
            self.wait_gone(job)
        self.ledger.close()


@pytest.fixture
def wp(slurm_cluster, tmp_path):
    workplace = Workplace(tmp_path, slurm_cluster)
    try:
        yield workplace
    finally:
        workplace.close()


def _jobs(report: dict) -> dict[str, dict]:
    return {row["id"]: row for row in report["slurm_jobs"]}


def test_a_dead_controllers_job_is_cancelled_and_recorded_deleted(wp):
    run_id = wp.run("training")
    job = wp.submit(run_id)
    assert wp.queue_state(job) in ("PENDING", "RUNNING", "CONFIGURING")
    report = wp.gc()  # the default target: the ledger's slurm jobs are looked at whatever the target
    row = _jobs(report)[job]
    assert row["decision"] == "cancelled" and row["run"] == run_id and row["kind"] == "slurm_job"
    assert row["reason"].startswith("run is training but its controller is gone; the job is ")
    assert report["ok"] and report["failed_runs"] == [run_id]
    assert f"cancelled slurm job {job}" in wp.stderr
    assert wp.wait_gone(job), f"job {job} still queued: {wp.queue_state(job)}"
    assert wp.live_jobs() == []
    [record] = wp.ledger.resources_by_run()[run_id]
    assert record.kind == "slurm_job" and record.deleted is not None
    assert wp.ledger.state(run_id) == "failed"
    assert wp.ledger.run(run_id).transitions[-1].reason == FAILED_REASON
    assert wp.gc("--target", "slurm")["slurm_jobs"] == []  # nothing left to look at


def test_a_live_lock_holder_keeps_its_job_until_it_dies(wp):
    run_id = wp.run("training")
    job = wp.submit(run_id)
    controller = wp.hold(run_id)
    report = wp.gc("--target", "slurm")
    row = _jobs(report)[job]
    assert (row["decision"], row["reason"]) == ("kept", "run is training and its controller is alive")
    assert report["ok"] and report["failed_runs"] == [] and report["resources"] == []
    time.sleep(1)
    assert job in wp.cluster.queued() and wp.live_jobs() == [job] and wp.ledger.state(run_id) == "training"

    controller.kill()  # the controller dies (SIGKILL): the next pass cancels its job
    controller.wait(timeout=10)
    row = _jobs(wp.gc("--target", "slurm"))[job]
    assert row["decision"] == "cancelled"
    assert wp.wait_gone(job) and wp.live_jobs() == [] and wp.ledger.state(run_id) == "failed"


def test_a_dry_run_changes_nothing(wp):
    orphan, finished = wp.run("training"), wp.run("training")
    job = wp.submit(orphan)
    ended = wp.submit(finished, "true")
    assert wp.wait_gone(ended)
    report = wp.gc("--dry-run", "--target", "slurm")
    rows = _jobs(report)
    assert rows[job]["decision"] == "would cancel"
    assert rows[ended]["decision"] == "would record deleted"
    assert sorted(report["failed_runs"]) == sorted([orphan, finished]) and "dry run" in report["summary"]
    time.sleep(1)
    assert job in wp.cluster.queued()
    assert sorted(wp.live_jobs()) == sorted([job, ended])
    assert wp.ledger.state(orphan) == "training" and wp.ledger.state(finished) == "training"

    table = subprocess.run([sys.executable, "-m", "stager", "gc", "--dry-run", "--target", "slurm"], cwd=wp.root,
                           env=wp.env(), capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "would cancel" in table.stdout and job in table.stdout
    summary = table.stdout.strip().splitlines()[-1]
    assert summary.startswith("2 slurm job(s): 1 would cancel, 1 would record deleted; run(s) to mark failed: ")
    assert summary.endswith("(dry run: nothing changed)"), table.stdout
    assert job in wp.cluster.queued() and len(wp.live_jobs()) == 2


def test_ended_and_forgotten_jobs_are_only_recorded_deleted(wp):
    done, gone = wp.run("training"), wp.run("training")
    wp.ledger.transition(done, "tearing_down")
    wp.ledger.transition(done, "succeeded")
    ended = wp.submit(done, "true")
    assert wp.wait_gone(ended)
    wp.ledger.resource_created(gone, kind="slurm_job", provider_id="987654", label=f"stager-{gone}")
    rows = _jobs(wp.gc("--target", "slurm"))
    assert rows[ended]["decision"] == "recorded deleted"
    assert rows[ended]["reason"] == "run succeeded; the job already ended COMPLETED (exit code 0:0): nothing to cancel"
    assert rows["987654"]["decision"] == "recorded deleted"
    assert rows["987654"]["reason"] == ("run is training but its controller is gone; the cluster no longer knows "
                                        "the job: nothing to cancel")
    assert wp.live_jobs() == []
    assert wp.ledger.state(done) == "succeeded" and wp.ledger.state(gone) == "failed"


def test_without_slurm_commands_jobs_could_not_be_checked_and_nothing_changes(wp):
    held, orphan = wp.run("training"), wp.run("training")
    job = wp.submit(orphan)
    kept = wp.submit(held)
    wp.hold(held)
    no_slurm = str(Path(sys.executable).parent)  # python's folder only: squeue, scancel and sacct are not on it
    report = wp.gc("--target", "slurm", code=1, PATH=no_slurm)
    rows = _jobs(report)
    assert rows[kept]["decision"] == "kept"  # a live controller's job needs no asking
    assert rows[job]["decision"] == "could not be checked"
    assert rows[job]["reason"].startswith("could not be checked: `squeue` not found")
    assert not report["ok"] and report["failed_runs"] == []
    [line] = [ln for ln in wp.stderr.splitlines() if ln.startswith("error:")]
    assert f"1 slurm job(s) could not be checked ({job}): `squeue` not found" in line
    assert sorted(wp.live_jobs()) == sorted([job, kept]) and wp.ledger.state(orphan) == "training"
    assert job in wp.cluster.queued()

    wp.ledger.resource_deleted(orphan, kind="slurm_job", provider_id=job)  # no dead controller's job left:
    assert _jobs(wp.gc("--target", "slurm", PATH=no_slurm))[kept]["decision"] == "kept"  # nothing to check, 0


def test_a_killed_runs_job_is_collected(wp, mnist_data):
    world = RunWorld(home=wp.home, emulator=None, data=mnist_data)
    pipeline = world.pipeline(wp.root, epochs=500, batches=None, target="slurm",
                              slurm={"partition": "debug", "time": "00:10:00", "nodes": 1, "gpus_per_node": 0})
    process = subprocess.Popen([sys.executable, "-m", "stager", "run", str(pipeline), "--runs-dir",
                                str(wp.root / "runs")], cwd=wp.root, env=wp.env(STAGER_SLURM_POLL_S="0.5"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    job = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            live = wp.ledger.live_resources()
            if live and wp.ledger.state(live[0].run_id) == "training":  # the controller saw the job run
                job = live[0].provider_id
                break
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the controller is killed: its teardown never runs
        _, err = process.communicate(timeout=30)
    assert job is not None, f"the job never ran: {err[-3000:]}"
    wp.jobs.append(job)
    [record] = wp.ledger.live_resources()
    run_id = record.run_id
    assert wp.ledger.state(run_id) == "training" and wp.queue_state(job) == "RUNNING"
    report = wp.gc("--target", "slurm")
    row = _jobs(report)[job]
    assert (row["decision"], row["reason"]) == \
        ("cancelled", "run is training but its controller is gone; the job is RUNNING")
    assert report["failed_runs"] == [run_id]
    assert wp.wait_gone(job) and wp.live_jobs() == [] and wp.ledger.state(run_id) == "failed"
