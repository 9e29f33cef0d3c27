"""Which of the ledger's live SLURM jobs are garbage: a pure function of the run's facts and the cluster's answer.

A ``target: slurm`` run records its job as a ``slurm_job`` resource and cancels it in
its teardown; a controller killed with SIGKILL leaves it queued or running. The
rules are those of ``rules.decide`` for the other kinds, told for a job:

1. The run's controller is alive (a process holds its lock): kept, whatever the job
   does; the cluster is not even asked. That process cancels it itself.
2. The cluster could not be asked (Slurm's commands missing, the controller not
   answering): the job could not be checked; nothing is done, and gc says why.
3. The job is still in the queue (pending, running, ...): cancelled (``scancel``)
   and recorded deleted; a run that had not finished is recorded as failed.
4. The job has left the queue (it ended, or the cluster no longer knows it):
   only recorded deleted, saying so; an unfinished run is recorded as failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from stager.gc.model import RunFacts
from stager.ledger.states import is_finished
from stager.slurm.commands import JobEnd

__all__ = ["ACTIONS", "JobCheck", "JobDecision", "decide_job"]

ACTIONS = ("keep", "cancel", "record", "unchecked")
# Slurm's states of a job still holding or waiting for an allocation (squeue lists them); sacct may still say
# one of these of a job squeue no longer lists (a record never closed).
_QUEUED = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
           "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "SPECIAL_EXIT", "RESV_DEL_HOLD"}


@dataclass(frozen=True)
class JobCheck:
    """What the cluster said about one job."""

    queued: str | None = None  # squeue's state while the job is listed (PENDING, RUNNING, ...); None once it left
    end: JobEnd | None = None  # how it ended (sacct, or scontrol without accounting); None when nobody knows
    error: str | None = None  # the cluster could not be asked: why, in one line


@dataclass(frozen=True)
class JobDecision:
    """What to do with a job, and why, in words for the user."""

    action: str  # one of ACTIONS
    reason: str
    fail_run: bool = False  # the run's controller is gone and the run unfinished: record it as failed


def _run_words(facts: RunFacts) -> str:
    if facts.state is None:
        return "run unknown to the ledger"
    if is_finished(facts.state):
        return f"run {facts.state}"
    return f"run is {facts.state} but its controller is gone"


def decide_job(facts: RunFacts, check: JobCheck | None) -> JobDecision:
    """What to do with a live ``slurm_job`` record of the run ``facts`` describe, given the cluster's answer.

    ``check`` is None when the cluster was not asked (it need not be when the controller is alive).

    Raises:
        Nothing.
    """
    if facts.controller_alive:
        return JobDecision("keep", f"run is {facts.state or 'unknown'} and its controller is alive")
    if check is None or check.error is not None:
        why = check.error if check is not None and check.error else "the cluster was not asked"
        return JobDecision("unchecked", f"could not be checked: {why}")
    unfinished = facts.state is not None and not is_finished(facts.state)
    if check.queued is not None:
        return JobDecision("cancel", f"{_run_words(facts)}; the job is {check.queued}", fail_run=unfinished)
    end = check.end
    if end is None:
        gone = "the cluster no longer knows the job"
    elif end.state in _QUEUED:
        gone = f"the job has left the queue (accounting last saw it {end.state})"
    else:
        gone = f"the job already ended {end.state} (exit code {end.exit_code})"
    return JobDecision("record", f"{_run_words(facts)}; {gone}: nothing to cancel", fail_run=unfinished)
