"""One ``stager gc`` pass: read the facts, list the target, decide, delete, and keep the ledger true.

The order matters for safety:

1. The ledger's live resources are read *before* the target is listed, so a
   resource a running run creates meanwhile can never look deleted.
2. Each resource is decided by ``rules.decide`` on the provider's clock.
3. Garbage is deleted, instances first (they hold volumes and firewalls); a
   deletion of something the ledger has as live is recorded there.
4. A run whose controller is gone is recorded as failed (its lock is checked
   again just before, so a ``--resume`` that started meanwhile is not overruled).
5. Live ledger resources that no longer exist on the target are recorded deleted
   ("reconciled"), but only for runs no live process is running: a controller
   tearing its run down records its own deletions.

The ledger's live SLURM jobs (``slurm_job`` resources) are found in the ledger,
not on a cloud, so they are looked at whatever the target (``cloud`` is None for
them alone): ``slurm_jobs.sweep_slurm_jobs`` asks the cluster about each and
cancels those of dead controllers, after the cloud's resources, before step 4.

``dry_run`` does steps 1-2 and reports what 3-5 would do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stager.cloud import LinodeCloud
from stager.gc.delete import delete_found
from stager.gc.facts import LocalFacts
from stager.gc.inventory import inventory
from stager.gc.model import KINDS, Decision, Found
from stager.gc.rules import decide
from stager.gc.slurm_jobs import JobOutcome, sweep_slurm_jobs
from stager.ledger import Ledger
from stager.ledger.states import is_finished
from stager.slurm.commands import SlurmCommands

__all__ = ["FAILED_REASON", "GcReport", "Outcome", "Reconciled", "collect_garbage"]

FAILED_REASON = "controller stopped; resources removed by stager gc"


@dataclass(frozen=True)
class Outcome:
    """One resource: what was decided and what came of it."""

    found: Found
    decision: Decision
    result: str  # "kept" | "deleted" | "would delete" | "failed"
    error: str | None = None  # why a deletion failed, one line

    def to_json(self) -> dict:
        f = self.found
        return {"kind": f.kind, "id": f.id, "label": f.label, "run": f.run_id, "status": f.status,
                "ttl": f.ttl.isoformat() if f.ttl else None, "decision": self.result,
                "reason": self.decision.reason, "error": self.error}


@dataclass(frozen=True)
class Reconciled:
    """A resource the ledger had as live that the target no longer has."""

    run_id: str
    kind: str  # the ledger's resource kind
    provider_id: str
    label: str
    recorded: bool  # False in a dry run, or when the ledger refused the record
    error: str | None = None

    def to_json(self) -> dict:
        return {"run": self.run_id, "kind": self.kind, "id": self.provider_id, "label": self.label,
                "recorded": self.recorded, "error": self.error}


@dataclass
class GcReport:
    """Everything one pass found, decided and did."""

    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    reconciled: list[Reconciled] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)  # runs recorded (or, dry, to be recorded) as failed
    problems: list[str] = field(default_factory=list)  # ledger records that could not be written
    slurm_jobs: list[JobOutcome] = field(default_factory=list)  # the ledger's live slurm_job records
    cloud: bool = True  # a cloud was listed (False: the slurm jobs alone, --target slurm)

    @property
    def ok(self) -> bool:
        """Whether all garbage is gone (always true for a dry run that could list and check everything)."""
        return not any(o.result == "failed" for o in self.outcomes) and \
            not any(j.result in ("failed", "could not be checked") for j in self.slurm_jobs)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    def summary(self) -> str:
        parts = []
        if self.cloud:
            parts.append(f"{len(self.outcomes)} stager resource(s)")
            if self.dry_run:
                parts.append(f"{self.count('would delete')} would be deleted")
            else:
                parts.append(f"{self.count('deleted')} deleted")
                if self.count("failed"):
                    parts.append(f"{self.count('failed')} could not be deleted")
            parts.append(f"{self.count('kept')} kept")
        if self.reconciled:
            parts.append(f"{len(self.reconciled)} ledger record(s) {'to reconcile' if self.dry_run else 'reconciled'}")
        if self.slurm_jobs or not self.cloud:
            counts: dict[str, int] = {}
            for job in self.slurm_jobs:
                counts[job.result] = counts.get(job.result, 0) + 1
            detail = ", ".join(f"{n} {r}" for r, n in counts.items())
            parts.append(f"{len(self.slurm_jobs)} slurm job(s)" + (f": {detail}" if detail else ""))
        if self.failed_runs:
            verb = "to mark failed" if self.dry_run else "marked failed"
            parts.append(f"run(s) {verb}: {', '.join(self.failed_runs)}")
        return "; ".join(parts) + (" (dry run: nothing changed)" if self.dry_run else "")

    def to_json(self) -> dict:
        return {"dry_run": self.dry_run, "ok": self.ok, "resources": [o.to_json() for o in self.outcomes],
                "reconciled": [r.to_json() for r in self.reconciled], "failed_runs": self.failed_runs,
                "problems": self.problems, "slurm_jobs": [j.to_json() for j in self.slurm_jobs],
                "summary": self.summary()}


def collect_garbage(cloud: LinodeCloud | None, ledger: Ledger, *, home: Path, dry_run: bool = False,
                    say: Callable[[str], None] = print, slurm: SlurmCommands | None = None) -> GcReport:
    """Find stager's leftovers on ``cloud``'s target and delete the garbage among them (see the module docstring).

    ``home`` is ``$STAGER_HOME`` (run locks, image build records); ``say`` gets progress lines. The ledger's live
    SLURM jobs are collected too, through ``slurm`` (a ``stager.slurm.commands.SlurmCommands``; by default one
    with gc's timeout); ``cloud`` None collects only them.

    Raises:
        CloudError: the target could not be listed (nothing was deleted then).
        CredentialsError: the token is missing or lacks a scope.
    """
    live = ledger.live_resources()  # before listing the target: see the module docstring
    facts = LocalFacts({s.id: s.state for s in ledger.runs()}, home)
    report = GcReport(dry_run, cloud=cloud is not None)
    to_fail = _sweep_cloud(cloud, ledger, live, facts, report, dry_run, say) if cloud is not None else set()
    report.slurm_jobs = sweep_slurm_jobs(live, ledger, facts, dry_run=dry_run, say=say, problems=report.problems,
                                         commands=slurm)
    to_fail |= {j.run_id for j in report.slurm_jobs if j.decision.fail_run}

    for run_id in sorted(to_fail):
        if dry_run:
            report.failed_runs.append(run_id)
        elif _mark_failed(ledger, facts, run_id, report):
            report.failed_runs.append(run_id)
            say(f"run {run_id} recorded as failed: {FAILED_REASON}")
    return report


def _sweep_cloud(cloud: LinodeCloud, ledger: Ledger, live: list, facts: LocalFacts, report: GcReport,
                 dry_run: bool, say: Callable[[str], None]) -> set[str]:
    """Steps 2, 3 and 5 on the cloud's resources; the runs to record as failed."""
    found = inventory(cloud, facts.known_ids())
    facts.see(found)
    now = cloud.now()
    decided = _spare_attached([(item, decide(item, facts.of(item.run_id), now)) for item in found])
    live_index = {(r.kind, r.provider_id): r for r in live}
    to_fail = {item.run_id for item, d in decided if d.fail_run and item.run_id}

    for kind in KINDS:
        for item, decision in decided:
            if item.kind != kind:
                continue
            report.outcomes.append(_act(cloud, ledger, item, decision, live_index, dry_run, say, report))

    present = {(item.kind, item.id) for item in found}
    candidates = [r for r in live if r.kind in KINDS and (r.kind, r.provider_id) not in present]
    gone = _confirm_gone(cloud, candidates)
    for record in candidates:
        run = facts.of(record.run_id)
        if record.provider_id not in gone.get(record.kind, set()) or run is None or run.controller_alive:
            continue
        if run.state is not None and not is_finished(run.state):
            to_fail.add(record.run_id)
        report.reconciled.append(_reconcile(ledger, record, dry_run))
    return to_fail


def _spare_attached(decided: list[tuple[Found, Decision]]) -> list[tuple[Found, Decision]]:
    """Keep a volume attached to an instance that stays (another run's, or one stager did not make):
    detaching it would pull a disk out from under a live machine."""
    doomed = {int(item.id) for item, d in decided if item.kind == "instance" and d.delete}
    spared = []
    for item, decision in decided:
        if item.kind == "volume" and decision.delete and item.attached_to is not None \
                and item.attached_to not in doomed:
            decision = Decision(False, f"attached to instance {item.attached_to}, which stays; detach it first")
        spared.append((item, decision))
    return spared


def _act(cloud: LinodeCloud, ledger: Ledger, item: Found, decision: Decision, live_index: dict, dry_run: bool,
         say: Callable[[str], None], report: GcReport) -> Outcome:
    if not decision.delete:
        return Outcome(item, decision, "kept")
    if dry_run:
        return Outcome(item, decision, "would delete")
    error = delete_found(cloud, item, say=say)
    if error is not None:
        return Outcome(item, decision, "failed", error)
    say(f"deleted {item.kind} {item.id} ({item.label}): {decision.reason}")
    record = live_index.get((item.kind, item.id))
    if record is not None:
        try:
            ledger.resource_deleted(record.run_id, kind=record.kind, provider_id=record.provider_id)
        except ValueError as exc:  # recorded by its run meanwhile
            report.problems.append(f"ledger: {exc}")
    return Outcome(item, decision, "deleted")


def _confirm_gone(cloud: LinodeCloud, candidates: list) -> dict[str, set[str]]:
    """Of the ledger's live resources missing from the stager-tagged listing, those the target really lacks
    (a resource whose tags someone removed still exists, and is not recorded deleted)."""
    gone: dict[str, set[str]] = {}
    kinds = {r.kind for r in candidates}
    firewalls = {str(f.id) for f in cloud.list_firewalls()} if "firewall" in kinds else set()
    keys = {str(k.id) for k in cloud.list_object_keys()} if "bucket_key" in kinds else set()
    for record in candidates:
        pid = record.provider_id
        if record.kind == "instance":
            missing = not pid.isdigit() or cloud.get_instance(int(pid)) is None
        elif record.kind == "volume":
            missing = not pid.isdigit() or cloud.get_volume(int(pid)) is None
        elif record.kind == "image":
            missing = cloud.get_image(pid) is None
        elif record.kind == "firewall":
            missing = pid not in firewalls
        else:
            missing = pid not in keys
        if missing:
            gone.setdefault(record.kind, set()).add(pid)
    return gone


def _reconcile(ledger: Ledger, record, dry_run: bool) -> Reconciled:
    if dry_run:
        return Reconciled(record.run_id, record.kind, record.provider_id, record.label, False)
    try:
        ledger.resource_deleted(record.run_id, kind=record.kind, provider_id=record.provider_id)
    except ValueError as exc:
        return Reconciled(record.run_id, record.kind, record.provider_id, record.label, False, str(exc))
    return Reconciled(record.run_id, record.kind, record.provider_id, record.label, True)


def _mark_failed(ledger: Ledger, facts: LocalFacts, run_id: str, report: GcReport) -> bool:
    if facts.read(run_id).controller_alive:  # a --resume may have started since
        report.problems.append(f"run {run_id}: a controller started meanwhile; not marked failed")
        return False
    try:
        ledger.transition(run_id, "failed", reason=FAILED_REASON)
    except ValueError as exc:  # finished meanwhile
        report.problems.append(f"run {run_id}: not marked failed: {exc}")
        return False
    return True
