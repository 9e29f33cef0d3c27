"""``stager run PIPELINE``: validate, sync, image, train on a rented instance, collect, tear down."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

# The pace of one run per target: an emulated instance boots in milliseconds and its
# clock can be moved by hours, so it is watched closely; Linode is polled gently.
_PACE = {"local": {"boot_timeout": 120.0, "reconnect_timeout": 20.0, "guard_every_s": 1.0},
         "linode": {"boot_timeout": 900.0, "reconnect_timeout": 120.0, "guard_every_s": 30.0}}


def run(
    pipeline: Path = typer.Argument(..., help="The pipeline file, e.g. pipelines/exp.yaml."),
    target: str | None = typer.Option(None, "--target", "-t",
                                      help="local, linode or slurm (default: the pipeline's)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the estimate; create nothing."),
    rehearse: bool | None = typer.Option(None, "--rehearse/--no-rehearse",
                                         help="First run the pipeline with fast_dev_run on a cheap CPU instance "
                                              "(default: the pipeline's `rehearse`)."),
    resume: str | None = typer.Option(None, "--resume", help="Continue this failed or aborted run from its last "
                                                             "pushed checkpoint."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start even when the estimate is over budget.max_usd."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
) -> None:
    """Run a pipeline end to end; everything it rents is deleted when it ends, however it ends."""
    from stager.cloud import open_target
    from stager.cost.estimate import check_budget
    from stager.home import stager_home
    from stager.image.builder import ImageBuilder
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.pipeline import load_pipeline
    from stager.run.access import controller_cidrs
    from stager.run.engine import RunEngine, RunOptions
    from stager.run.plan import make_plan

    spec = load_pipeline(pipeline, target=target)
    if spec.sprint is not None:
        raise spec.error("sprint", "this file is a sprint: many experiments under one budget",
                         hint=f"plan it with `stager sprint plan {pipeline}`, run it with `stager sprint run "
                              f"{pipeline}`")
    if spec.target == "slurm":
        _run_on_slurm(spec, dry_run=dry_run, resume=resume, rehearse=rehearse, runs_dir=runs_dir)
        return
    home = stager_home()
    with open_target(spec.target) as opened:
        finder = ImageBuilder(opened, home=home, say=_err).find_image
        plan = make_plan(spec, cloud=opened.cloud, find_image=finder, home=home)
        if dry_run:
            for line in plan.describe():
                typer.echo(line)
            return
        if not yes:
            check_budget(plan.estimate, spec.budget)
        # Known before anything is spent: a bad STAGER_SSH_FROM must not cost an image build.
        ssh_from = tuple(controller_cidrs(spec.target))
        options = RunOptions(runs_dir=runs_dir, home=home, resume=resume, rehearse=rehearse, say=_err,
                             ssh_from=ssh_from, **_PACE[spec.target])
        with Ledger.open(home / LEDGER_FILE, clock=opened.cloud.now) as ledger:
            result = RunEngine(spec, opened, ledger, plan, options).run()
    typer.echo(f"{result.run_id} {result.state}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _run_on_slurm(spec, *, dry_run: bool, resume: str | None, rehearse: bool | None, runs_dir: Path) -> None:
    """Submit the pipeline as a SLURM job and follow it (docs/slurm.md); --dry-run prints the sbatch script."""
    from stager.errors import UsageError
    from stager.home import stager_home
    from stager.slurm.engine import dry_run_script, run_on_slurm

    if resume or rehearse:
        raise UsageError(f"{'--resume' if resume else '--rehearse'} is not supported on target slurm")
    if dry_run:
        typer.echo(dry_run_script(spec, runs_dir), nl=False)
        return
    result = run_on_slurm(spec, runs_dir=runs_dir, home=stager_home(), say=_err)
    typer.echo(f"{result.run_id} {result.state}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
