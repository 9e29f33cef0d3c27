"""The ledger's live SLURM jobs in one ``stager gc`` pass: ask the cluster, decide, cancel, record.

The jobs are found in the ledger (resources of kind ``slurm_job`` recorded created
and not deleted), not on a cloud, so they are looked at whatever ``--target`` is.
The cluster is asked through ``stager.slurm.commands`` (``squeue -h -j ID -o %T``;
once the job has left the queue, ``sacct``, or ``scontrol`` without accounting),
with the environment gc runs in (``SLURM_CONF`` included), only for jobs whose
run's controller is gone. When the cluster cannot be asked (its commands are not
on PATH, its controller does not answer) the remaining jobs are reported as
"could not be checked" without asking again, and nothing of theirs is changed.
The decisions are ``slurm_rules.decide_job``'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stager.errors import StagerError
from stager.gc.facts import LocalFacts
from stager.gc.slurm_rules import JobCheck, JobDecision, decide_job
from stager.ledger import Ledger
from stager.slurm.commands import JOB_KIND, SlurmCommands

__all__ = ["ASK_TIMEOUT_S", "JOB_KIND", "JobOutcome", "cancel_job", "check_job", "sweep_slurm_jobs"]

ASK_TIMEOUT_S = 30.0  # per Slurm command: a controller that does not answer must not hold up cron for long
_JOB_ID = re.compile(r"\d+(?:_\d+)?")  # a job id, or an array task's


@dataclass(frozen=True)
class JobOutcome:
    """One live ``slurm_job`` record: what the cluster said, what was decided, what came of it."""

    run_id: str
    job_id: str
    label: str
    cluster_state: str | None  # squeue's state, or how it ended; None when unknown or not asked
    decision: JobDecision
    result: str  # kept | cancelled | would cancel | recorded deleted | would record deleted | failed
    # | could not be checked
    error: str | None = None  # why a cancel failed, one line

    def to_json(self) -> dict:
        return {"kind": JOB_KIND, "id": self.job_id, "label": self.label, "run": self.run_id,
                "status": self.cluster_state, "decision": self.result, "reason": self.decision.reason,
                "error": self.error}


def check_job(commands: SlurmCommands, job_id: str) -> JobCheck:
    """Whether ``job_id`` is still queued or running, or how it ended (the fallbacks stager.slurm uses).

    Raises:
        Nothing: a cluster that cannot be asked is a ``JobCheck`` with ``error``.
    """
    if not _JOB_ID.fullmatch(job_id):
        return JobCheck(error=f"{job_id!r} is not a slurm job id")
    try:
        state = commands.queue_state(job_id)
    except StagerError as exc:  # not installed (UsageError), or squeue failed or did not answer
        return JobCheck(error=_one_line(exc))
    if state is not None:
        return JobCheck(queued=state)
    try:
        end = commands.final_state(job_id)
    except StagerError:  # it is not queued: how it ended is only for the reason
        end = None
    return JobCheck(end=end)


def cancel_job(commands: SlurmCommands, job_id: str) -> str | None:
    """``scancel`` the job; None when it is gone (cancelled now, or ended meanwhile), else why not, in one line.

    Raises:
        Nothing.
    """
    try:
        commands.cancel(job_id)
        return None
    except StagerError as exc:
        error = _one_line(exc)
    try:
        if commands.queue_state(job_id) is None:  # ended between the look and the cancel
            return None
    except StagerError:
        pass
    return f"{error}; cancel it with `scancel {job_id}`"


def sweep_slurm_jobs(records: list, ledger: Ledger, facts: LocalFacts, *, dry_run: bool,
                     say: Callable[[str], None], problems: list[str],
                     commands: SlurmCommands | None = None) -> list[JobOutcome]:
    """Decide and act on each live ``slurm_job`` record in ``records`` (the ledger's, read before anything else).

    Ledger records that cannot be written are appended to ``problems``.

    Raises:
        Nothing: the cluster's and the ledger's failures are in the outcomes and ``problems``.
    """
    jobs = [r for r in records if r.kind == JOB_KIND]
    if not jobs:
        return []
    commands = commands or SlurmCommands(timeout=ASK_TIMEOUT_S)
    cluster_error: str | None = None  # once the cluster could not be asked, it is not asked again in this pass
    outcomes: list[JobOutcome] = []
    for record in jobs:
        run = facts.of(record.run_id)
        check: JobCheck | None = None
        if not run.controller_alive:
            check = JobCheck(error=cluster_error) if cluster_error else check_job(commands, record.provider_id)
            if check.error is not None and _JOB_ID.fullmatch(record.provider_id):
                cluster_error = check.error
        decision = decide_job(run, check)
        outcomes.append(_act(commands, ledger, facts, record, check, decision, dry_run, say, problems))
    return outcomes


def _act(commands: SlurmCommands, ledger: Ledger, facts: LocalFacts, record, check: JobCheck | None,
         decision: JobDecision, dry_run: bool, say: Callable[[str], None], problems: list[str]) -> JobOutcome:
    state = None if check is None else (check.queued or (check.end.state if check.end else None))

    def outcome(result: str, error: str | None = None, why: JobDecision = decision) -> JobOutcome:
        return JobOutcome(record.run_id, record.provider_id, record.label, state, why, result, error)

    job = record.provider_id
    if decision.action == "keep":
        return outcome("kept")
    if decision.action == "unchecked":
        return outcome("could not be checked")
    if decision.action == "cancel":
        if dry_run:
            return outcome("would cancel")
        if facts.read(record.run_id).controller_alive:  # a controller took the run meanwhile
            return outcome("kept", why=JobDecision("keep", "its run's controller started meanwhile"))
        error = cancel_job(commands, job)
        if error is not None:
            return outcome("failed", error)
        say(f"cancelled slurm job {job} ({record.label}): {decision.reason}")
        result = "cancelled"
    else:
        if dry_run:
            return outcome("would record deleted")
        result = "recorded deleted"
    try:
        ledger.resource_deleted(record.run_id, kind=JOB_KIND, provider_id=job)
    except ValueError as exc:  # recorded by its run meanwhile
        problems.append(f"ledger: {exc}")
    return outcome(result)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
