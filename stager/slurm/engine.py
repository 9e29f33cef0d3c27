"""A run on SLURM: `stager.run.engine.RunEngine`'s run record, stages and teardown, with a job instead of instances.

    pending -> validating -> provisioning (submitted, pending in the queue) -> training (running)
            -> collecting -> tearing_down -> succeeded | failed | aborted

What is the same as any run comes from `RunEngine` itself: the lock, the
ledger record, the run folder, the move between states, Ctrl-C and SIGTERM
turned into a teardown that cannot be cut short, the metrics and ``train.epoch``
events (through `TrainingProgress`), the artifacts with their sha256. What
differs is here: the data is validated but not synced (the compute nodes read it
in place), nothing is rented or priced, the job is submitted with ``sbatch``
and recorded as a ``slurm_job`` resource, and the teardown is ``scancel`` of a
job still queued or running.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stager.errors import JobFailed, UsageError
from stager.ids import new_id
from stager.pipeline import PipelineSpec
from stager.run.engine import RunEngine, RunOptions, RunResult
from stager.run.job import config_text
from stager.slurm.commands import JOB_KIND, JobEnd, SlurmCommands
from stager.slurm.script import ScriptFacts, job_name, render_script

__all__ = ["POLL_ENV", "SlurmEngine", "dry_run_script", "poll_every_s", "run_on_slurm"]

SCRIPT_FILE = "job.sbatch"
POLL_ENV = "STAGER_SLURM_POLL_S"  # how often squeue is asked, in seconds
DEFAULT_POLL_S = 5.0
_LAST_LINES = 5


def poll_every_s() -> float:
    """``$STAGER_SLURM_POLL_S`` or 5 seconds."""
    text = os.environ.get(POLL_ENV)
    if text is None:
        return DEFAULT_POLL_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 600:
        raise UsageError(f"{POLL_ENV}={text!r}: give seconds between 0.1 and 600, e.g. {POLL_ENV}=5")
    return value


def runs_folder(spec: PipelineSpec, runs_dir: Path) -> Path:
    """Where the run's folder goes: ``slurm.workdir``, else the runs folder; absolute (the nodes read it)."""
    return Path(spec.slurm.workdir or runs_dir).absolute()


def script_for(spec: PipelineSpec, run_id: str, run_root: Path) -> str:
    return render_script(spec.slurm, ScriptFacts(
        run_id=run_id, pipeline=spec.name, config=run_root / "train.yaml",
        output=run_root / "logs" / "slurm-%j.out", chdir=Path.cwd(), python=spec.slurm.python or sys.executable))


def dry_run_script(spec: PipelineSpec, runs_dir: Path) -> str:
    """The script a run would submit now (under a run id nothing reserves); writes nothing."""
    run_id = new_id(RunEngine.ID_KIND)
    return script_for(spec, run_id, runs_folder(spec, runs_dir) / run_id)


def run_on_slurm(spec: PipelineSpec, *, runs_dir: Path, home: Path, say) -> RunResult:
    from stager.ledger import LEDGER_FILE, Ledger

    options = RunOptions(runs_dir=runs_folder(spec, runs_dir), home=home, rehearse=False, say=say,
                         guard_every_s=poll_every_s())
    with Ledger.open(home / LEDGER_FILE) as ledger:
        return SlurmEngine(spec, ledger, options).run()


# RunEngine speaks to a cloud for the clock and the teardown, and to a plan for the estimate; on SLURM there is
# neither a provider nor a price, so these stand in for them.

class _NoCloud:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _ClusterTarget:
    cloud: _NoCloud = field(default_factory=_NoCloud)
    sandboxed: bool = False


class _NoEstimate:
    total_usd = 0.0

    def summary(self) -> str:
        return "no estimate: SLURM jobs are paid by the cluster's allocation, not by stager"

    def to_dict(self) -> dict[str, Any]:
        return {"total_usd": 0.0, "note": self.summary()}


@dataclass(frozen=True)
class _NoPlan:
    estimate: _NoEstimate = field(default_factory=_NoEstimate)


class SlurmEngine(RunEngine):
    def __init__(self, spec: PipelineSpec, ledger, options: RunOptions,
                 commands: SlurmCommands | None = None) -> None:
        if spec.slurm is None:
            raise UsageError(f"{spec.path}: target slurm needs a `slurm:` section")
        super().__init__(spec, _ClusterTarget(), ledger, _NoPlan(), options)
        self.commands = commands or SlurmCommands()
        self.job_id: str | None = None  # submitted and not yet known to have ended

    # -- the stages ---------------------------------------------------------------------------------

    def _stages(self) -> None:
        from stager.run.progress import TrainingProgress
        from stager.slurm.follow import follow_job
        from stager.slurm.train_config import slurm_train_config

        spec = self.spec
        if spec.slurm.not_used:
            self.say(f"not used on target slurm: {', '.join(spec.slurm.not_used)} (the cluster provides the "
                     "machines and its shared filesystem the data; slurm.time limits the job)")
        self._validate_data()
        self.folder.write_text("train.yaml", config_text(slurm_train_config(
            spec, run_id=self.run_id, outputs=self.folder.outputs.absolute())))
        script = self.folder.write_text(SCRIPT_FILE, script_for(spec, self.run_id, self.folder.root.absolute()))
        self._move("provisioning")
        job_id = self.commands.submit(script.absolute())
        self.job_id = job_id
        self.ledger.resource_created(self.run_id, kind=JOB_KIND, provider_id=job_id, label=job_name(self.run_id))
        self.say(f"slurm job {job_id} submitted (partition {spec.slurm.partition}, {spec.slurm.nodes} node(s)); "
                 f"its output: {self._output(job_id)}")
        progress = TrainingProgress(train_log=self.folder.train_log, metrics=self.folder.metrics, say=self.say,
                                    on_record=self._on_record)
        try:
            end = follow_job(self.commands, job_id, self._output(job_id), on_line=progress.line,
                             on_state=self._job_state, every_s=self.options.guard_every_s)
        finally:
            progress.close()
        self._job_gone()
        self.ledger.event(self.run_id, "train.ended", {"slurm_job": job_id, "state": end.state,
                                                       "exit_code": end.exit_code, "step": progress.last_step,
                                                       "metrics": progress.final_metrics})
        if not end.ok:
            raise JobFailed(self._failure(job_id, end, list(progress.tail)))
        if self.state != "training":  # it ran between two looks at the queue
            self._move("training")
        self._move("collecting")
        self._collect_here()
        self._move("tearing_down")

    def _validate_data(self) -> None:
        """Validate and record each dataset, as every run does; no sync: the nodes read it where it is."""
        if self.spec.data:
            self._validate()

    def _job_state(self, state: str) -> None:
        self.say(f"slurm job {self.job_id}: {state}")
        if state in ("RUNNING", "COMPLETING") and self.state == "provisioning":
            self._move("training")
            self.ledger.event(self.run_id, "train.started", {"slurm_job": self.job_id,
                                                             "nodes": self.spec.slurm.nodes})

    def _collect_here(self) -> None:
        """The checkpoints the trainer wrote under out/ into checkpoints/, and the logs, each recorded."""
        from stager.hashing import sha256_file

        if self.spec.outputs.checkpoints:
            for source in sorted(self.folder.outputs.rglob("*.ckpt")):
                if source.is_symlink() or not source.is_file():
                    continue
                dest = self.folder.checkpoints / source.name
                if dest.exists():  # the same name in two version folders: keep both
                    dest = self.folder.checkpoints / "_".join(source.relative_to(self.folder.outputs).parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(source, dest)
                self._artifact(dest, sha256_file(dest))
                self.say(f"checkpoint {dest.relative_to(self.folder.root)} recorded")
        for path in (self.folder.train_log, self.folder.metrics):
            if path.exists():
                self._artifact(path, sha256_file(path))

    # -- the end ------------------------------------------------------------------------------------

    def _finish(self, final: str, reason: str | None, code: int) -> tuple[str, str | None, int]:
        """A job still queued or running is cancelled first (Ctrl-C, SIGTERM, a failure of stager's own)."""
        if self.job_id is not None:
            try:
                self.commands.cancel(self.job_id)
                self.say(f"slurm job {self.job_id} cancelled (scancel)")
                self.ledger.event(self.run_id, "slurm.cancelled", {"slurm_job": self.job_id})
                self._job_gone()
            except Exception as exc:  # never hide the run's own outcome
                self.say(f"cancelling slurm job {self.job_id} failed: {exc}; cancel it with `scancel "
                         f"{self.job_id}`")
        return super()._finish(final, reason, code)

    def _summary(self, final: str, reason: str | None, actual: float) -> None:
        if final == "succeeded":
            self.say(f"run {self.run_id} succeeded: results in {self.folder.root} "
                     "(checkpoints/, metrics.jsonl, logs/)")
        else:
            self.say(f"run {self.run_id} {final}: {reason}; folder {self.folder.root}")

    def _job_gone(self) -> None:
        if self.job_id is not None:
            self.ledger.resource_deleted(self.run_id, kind=JOB_KIND, provider_id=self.job_id)
            self.job_id = None

    def _output(self, job_id: str) -> Path:
        return self.folder.root.absolute() / "logs" / f"slurm-{job_id}.out"

    def _failure(self, job_id: str, end: JobEnd, tail: list[str]) -> str:
        last = " | ".join(line[:200] for line in tail[-_LAST_LINES:]) or "(no output)"
        return (f"slurm job {job_id} {end.state} (exit code {end.exit_code}); last lines: {last} "
                f"(the whole output: {self._output(job_id)})")


def _link_or_copy(source: Path, dest: Path) -> None:
    """A hard link costs no space on the shared filesystem; a copy where links are not allowed."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
