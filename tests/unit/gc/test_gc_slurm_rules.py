"""stager gc's rules for the ledger's SLURM jobs: a pure function, and the cluster's answers read without a cluster."""

from __future__ import annotations

import pytest

from stager.errors import UsageError
from stager.gc import RunFacts
from stager.gc.slurm_jobs import JobOutcome, cancel_job, check_job
from stager.gc.slurm_rules import JobCheck, JobDecision, decide_job
from stager.gc.sweep import GcReport
from stager.slurm.commands import JobEnd, SlurmCommandFailed

RUN = "r20260110-100000-abcd"


def facts(state: str | None, alive: bool = False) -> RunFacts:
    return RunFacts(RUN, state, alive)


@pytest.mark.parametrize("state", ["provisioning", "training", "succeeded", "failed"])
@pytest.mark.parametrize("check", [None, JobCheck(queued="RUNNING"), JobCheck(error="squeue: timed out")])
def test_a_live_controller_keeps_its_job_whatever_the_cluster_says(state, check):
    decision = decide_job(facts(state, alive=True), check)
    assert decision == JobDecision("keep", f"run is {state} and its controller is alive")


@pytest.mark.parametrize("queued", ["PENDING", "RUNNING", "COMPLETING"])
def test_a_queued_job_of_a_dead_controller_is_cancelled_and_its_unfinished_run_failed(queued):
    decision = decide_job(facts("training"), JobCheck(queued=queued))
    assert decision == JobDecision("cancel", f"run is training but its controller is gone; the job is {queued}",
                                   fail_run=True)


@pytest.mark.parametrize("state", ["succeeded", "failed", "aborted"])
def test_a_finished_runs_queued_job_is_cancelled_and_the_run_left_as_it_is(state):
    decision = decide_job(facts(state), JobCheck(queued="RUNNING"))
    assert decision == JobDecision("cancel", f"run {state}; the job is RUNNING", fail_run=False)


def test_an_ended_or_forgotten_job_is_only_recorded_deleted_and_says_so():
    ended = decide_job(facts("training"), JobCheck(end=JobEnd("CANCELLED", "0:15")))
    assert ended == JobDecision("record", "run is training but its controller is gone; the job already ended "
                                "CANCELLED (exit code 0:15): nothing to cancel", fail_run=True)
    forgotten = decide_job(facts("succeeded"), JobCheck())
    assert forgotten == JobDecision("record", "run succeeded; the cluster no longer knows the job: nothing to cancel")
    stale = decide_job(facts("aborted"), JobCheck(end=JobEnd("RUNNING", "0:0")))
    assert stale.action == "record" and "left the queue (accounting last saw it RUNNING)" in stale.reason


def test_a_job_the_cluster_could_not_be_asked_about_is_left_alone():
    decision = decide_job(facts("training"), JobCheck(error="`squeue` not found"))
    assert decision == JobDecision("unchecked", "could not be checked: `squeue` not found")
    assert not decision.fail_run
    assert decide_job(facts("training"), None).action == "unchecked"


class FakeCommands:
    """SlurmCommands' answers, scripted: a value to return or an exception to raise, per method."""

    def __init__(self, **answers) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def _answer(self, name: str, job_id: str):
        self.calls.append((name, job_id))
        answer = self.answers.get(name)
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def queue_state(self, job_id: str):
        return self._answer("queue_state", job_id)

    def final_state(self, job_id: str):
        return self._answer("final_state", job_id)

    def cancel(self, job_id: str):
        return self._answer("cancel", job_id)


def test_check_job_asks_squeue_then_the_end_once_it_left():
    assert check_job(FakeCommands(queue_state="PENDING"), "42") == JobCheck(queued="PENDING")
    ended = FakeCommands(queue_state=None, final_state=JobEnd("COMPLETED", "0:0"))
    assert check_job(ended, "42") == JobCheck(end=JobEnd("COMPLETED", "0:0"))
    assert ended.calls == [("queue_state", "42"), ("final_state", "42")]
    quiet = FakeCommands(queue_state=None, final_state=SlurmCommandFailed("sacct did not answer within 30 s"))
    assert check_job(quiet, "42") == JobCheck()  # not queued: how it ended only colours the reason


def test_check_job_turns_a_cluster_that_cannot_be_asked_into_an_error():
    missing = FakeCommands(queue_state=UsageError("`squeue` not found: target slurm runs where ..."))
    assert check_job(missing, "42").error == "`squeue` not found: target slurm runs where ..."
    down = FakeCommands(queue_state=SlurmCommandFailed("squeue -j 42 failed: Unable to contact slurm controller"))
    assert check_job(down, "42").error == "squeue -j 42 failed: Unable to contact slurm controller"
    odd = FakeCommands()
    assert check_job(odd, "--all").error == "'--all' is not a slurm job id" and odd.calls == []


def test_cancel_job_is_done_when_the_job_is_gone_and_says_how_to_finish_when_not():
    assert cancel_job(FakeCommands(cancel=None), "42") is None
    ended = FakeCommands(cancel=SlurmCommandFailed("scancel 42 failed: already completed"), queue_state=None)
    assert cancel_job(ended, "42") is None
    stuck = FakeCommands(cancel=SlurmCommandFailed("scancel 42 failed: Access denied"), queue_state="RUNNING")
    assert cancel_job(stuck, "42") == "scancel 42 failed: Access denied; cancel it with `scancel 42`"


def _job(result: str, action: str = "cancel") -> JobOutcome:
    return JobOutcome(RUN, "42", f"stager-{RUN}", "RUNNING", JobDecision(action, "why"), result)


def test_the_report_is_not_ok_when_a_job_could_not_be_cancelled_or_checked():
    assert GcReport(False, slurm_jobs=[_job("cancelled"), _job("kept", "keep")]).ok
    assert not GcReport(False, slurm_jobs=[_job("failed")]).ok
    assert not GcReport(True, slurm_jobs=[_job("could not be checked", "unchecked")]).ok
    assert GcReport(False).summary() == "0 stager resource(s); 0 deleted; 0 kept"  # no slurm jobs: as before
    only = GcReport(False, slurm_jobs=[_job("cancelled"), _job("cancelled")], cloud=False)
    assert only.summary() == "2 slurm job(s): 2 cancelled"
    assert only.to_json()["slurm_jobs"][0] == {"kind": "slurm_job", "id": "42", "label": f"stager-{RUN}",
                                               "run": RUN, "status": "RUNNING", "decision": "cancelled",
                                               "reason": "why", "error": None}
