"""Slurm's commands as argument lists (never a shell line): submit, look at, and cancel one job.

A job's end state comes from ``sacct`` when the cluster keeps accounting, and
from ``scontrol show job`` when it does not (no slurmdbd: ``sacct`` says
"accounting storage is disabled"), which knows a job for ``MinJobAge`` seconds
after it ended (300 by default) -- long enough for a follower polling every
few seconds.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stager.errors import StagerError, UsageError

__all__ = ["JOB_KIND", "JobEnd", "SlurmCommandFailed", "SlurmCommands"]

JOB_KIND = "slurm_job"  # the ledger's resource kind for a submitted job (the run records it; stager gc reads it)

_SCONTROL_FIELD = r"(?:^|\s){}=(\S+)"


class SlurmCommandFailed(StagerError):
    """A Slurm command failed; the message names it and what it said."""


@dataclass(frozen=True)
class JobEnd:
    state: str  # Slurm's: COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ... or UNKNOWN
    exit_code: str  # "code:signal" as Slurm writes it, e.g. "0:0", "1:0", "0:15"

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED" and self.exit_code.split(":")[0] == "0"


class SlurmCommands:
    """Runs Slurm's client commands with the environment stager runs in (``SLURM_CONF`` included)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout

    def submit(self, script: Path) -> str:
        """``sbatch --parsable SCRIPT``; the job id."""
        out = self._run("sbatch", "--parsable", str(script)).stdout.strip()
        job_id = out.split(";")[0]  # "id" or "id;cluster"
        if not job_id.isdigit():
            raise SlurmCommandFailed(f"sbatch answered {out!r}, not a job id")
        return job_id

    def queue_state(self, job_id: str) -> str | None:
        """The job's state while squeue lists it (PENDING, RUNNING, COMPLETING, ...); None once it left."""
        result = self._run("squeue", "-h", "-j", job_id, "-o", "%T", check=False)
        if result.returncode != 0:
            if "invalid job id" in result.stderr.lower():
                return None  # known no more: long finished
            raise SlurmCommandFailed(f"squeue -j {job_id} failed: {_said(result)}")
        states = result.stdout.split()
        return states[0] if states else None

    def final_state(self, job_id: str) -> JobEnd | None:
        """How the job ended, from sacct or else scontrol; None when neither knows it."""
        return self._from_sacct(job_id) or self._from_scontrol(job_id)

    def cancel(self, job_id: str) -> None:
        """``scancel JOB``: its steps get SIGTERM, then SIGKILL after the cluster's KillWait."""
        self._run("scancel", job_id)

    def _from_sacct(self, job_id: str) -> JobEnd | None:
        result = self._run("sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode", check=False)
        if result.returncode != 0:
            return None  # no accounting on this cluster
        for line in result.stdout.splitlines():
            state, _, code = line.partition("|")
            if state.strip():
                return JobEnd(state.split()[0], code.strip() or "?")  # "CANCELLED by 0" -> CANCELLED
        return None

    def _from_scontrol(self, job_id: str) -> JobEnd | None:
        result = self._run("scontrol", "show", "job", "-o", job_id, check=False)
        if result.returncode != 0:
            return None
        state = re.search(_SCONTROL_FIELD.format("JobState"), result.stdout)
        code = re.search(_SCONTROL_FIELD.format("ExitCode"), result.stdout)
        if state is None:
            return None
        return JobEnd(state.group(1), code.group(1) if code else "?")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            result = subprocess.run(list(args), capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError:
            raise UsageError(f"`{args[0]}` not found: target slurm runs where Slurm's commands are "
                             "(a login node of the cluster), with them on PATH") from None
        except subprocess.TimeoutExpired:
            raise SlurmCommandFailed(f"{args[0]} did not answer within {self.timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise SlurmCommandFailed(f"{' '.join(args)} failed: {_said(result)}")
        return result


def _said(result: subprocess.CompletedProcess) -> str:
    text = " ".join((result.stderr or result.stdout or "").split())
    return text[:300] or f"exit code {result.returncode}"
