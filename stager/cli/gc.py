"""``stager gc``: delete what crashed or finished runs left in the cloud; safe to run any time, from cron too."""

from __future__ import annotations

import json
import sys

import typer

from stager.errors import JobFailed, UsageError

SLURM_TARGET = "slurm"  # `--target slurm`: the ledger's SLURM jobs alone

HELP = "\n\n".join([
    "Delete stager's leftovers: everything tagged `stager` (instances, volumes, firewalls, images) and stager's "
    "Object Storage keys (labelled `stager-<run>-...`) that no run needs any more.",
    "Garbage: resources of a run that finished, or whose controller process is gone (the run is then recorded as "
    "failed), or whose ttl has passed, or whose run this machine's ledger does not know (and is not an image build "
    "in progress).",
    "Kept: anything of a run whose controller is alive, dataset volumes, and available gold images (later runs "
    "reuse them; `stager image prune` removes unused ones). An image is garbage only when its capture never "
    "finished. Every resource is listed with the reason it is kept or deleted.",
    "SLURM jobs of `target: slurm` runs are found in the ledger, whatever the target: a job still queued or "
    "running whose run's controller is gone is cancelled (scancel); `--target slurm` looks at them alone.",
    "Exit status: 0 when all garbage is gone, 1 when something could not be deleted, or a SLURM job could not be "
    "checked (the message says how to finish by hand). See docs/gc.md.",
])


def _err(line: str) -> None:
    typer.echo(line, err=True)


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted; change nothing."),
    target: str = typer.Option("local", "--target", "-t", help="local (the emulator on this machine), linode "
                               "(LINODE_TOKEN), or slurm (only the ledger's SLURM jobs; no cloud). The ledger's "
                               "SLURM jobs are looked at with every target."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Delete stager's leftovers that no run needs (the help text is HELP)."""
    from stager.cloud import open_target
    from stager.cloud.targets import TARGETS
    from stager.gc import collect_garbage
    from stager.home import stager_home
    from stager.ledger import Ledger

    home = stager_home()
    if target not in (*TARGETS, SLURM_TARGET):
        raise UsageError(f"unknown target {target!r}; valid targets: {', '.join((*TARGETS, SLURM_TARGET))}")
    if target == SLURM_TARGET:  # the jobs are found in the ledger: no cloud to open
        with Ledger.open() as ledger:
            report = collect_garbage(None, ledger, home=home, dry_run=dry_run, say=_err)
    else:
        with Ledger.open() as ledger, open_target(target) as opened:
            report = collect_garbage(opened.cloud, ledger, home=home, dry_run=dry_run, say=_err)
    for problem in report.problems:
        _err(f"warning: {problem}")
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_table(report)
    if not report.ok:
        raise JobFailed(_not_ok(report))


def _not_ok(report) -> str:
    failed = [f"{o.found.kind} {o.found.id}" for o in report.outcomes if o.result == "failed"]
    failed += [f"slurm_job {j.job_id}" for j in report.slurm_jobs if j.result == "failed"]
    unchecked = [j for j in report.slurm_jobs if j.result == "could not be checked"]
    problems = []
    if failed:
        problems.append(f"{len(failed)} leftover(s) could not be deleted ({', '.join(failed)})")
    if unchecked:
        why = unchecked[0].decision.reason.removeprefix("could not be checked: ")
        problems.append(f"{len(unchecked)} slurm job(s) could not be checked ({', '.join(j.job_id for j in unchecked)}"
                        f"): {why}")
    later = "run `stager gc` again later"
    if unchecked:
        later += " where Slurm's commands reach the cluster"
    return "; ".join(problems) + f"; {later}, or {'finish' if unchecked else 'delete them'} by hand as the " \
        "messages above say"


def _print_table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    # Off a terminal rich would cut cells to 80 columns: pipes and files get whole ids.
    console = Console(width=None if sys.stdout.isatty() else 240, highlight=False)
    if report.outcomes:
        table = Table("kind", "id", "label", "run", "decision", "reason", box=None)
        for o in report.outcomes:
            reason = o.decision.reason + (f" ({o.error})" if o.error else "")
            table.add_row(o.found.kind, o.found.id, o.found.label, o.found.run_id or "-", o.result, reason)
        console.print(table)
    if report.slurm_jobs:
        table = Table("kind", "id", "label", "run", "cluster", "decision", "reason", box=None)
        for j in report.slurm_jobs:
            reason = j.decision.reason + (f" ({j.error})" if j.error else "")
            table.add_row("slurm_job", j.job_id, j.label, j.run_id, j.cluster_state or "-", j.result, reason)
        console.print(table)
    for r in report.reconciled:
        verb = "recorded deleted" if r.recorded else ("to record deleted" if report.dry_run else "NOT recorded")
        console.print(f"ledger: {r.kind} {r.provider_id} ({r.label}) of run {r.run_id} no longer exists: {verb}")
    typer.echo(report.summary())
