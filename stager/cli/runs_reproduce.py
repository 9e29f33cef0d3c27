"""``stager runs reproduce RUN``: run a recorded run again, on the same image, spec and data, and diff the two.

The data is checked before anything is rented: a dataset that no longer matches
the manifest the run recorded stops the reproduction (exit 2) unless
``--allow-drift``. The new run records which run it reproduces
(``run.reproduces``), and the command exits with the new run's exit code.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["reproduce"]


def reproduce(
    run_id: str = typer.Argument(..., help="The run to reproduce: a run id, or a unique start of one."),
    allow_drift: bool = typer.Option(False, "--allow-drift", help="Run even when a dataset no longer matches the "
                                                                  "manifest the run recorded."),
    target: str | None = typer.Option(None, "--target", "-t", help="local or linode (default: the run's)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the data and the image, print the plan; create "
                                                          "nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start even when the estimate is over budget.max_usd."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Run a recorded run again with the same image id, spec and data; then print `stager runs diff OLD NEW`."""
    from stager.audit.diff import diff_runs
    from stager.audit.reproduce import REPRODUCES_EVENT, dataset_drift, drift_files, drift_message, recorded_spec
    from stager.cli.run import _PACE, _err
    from stager.cloud import open_target
    from stager.cost.estimate import check_budget
    from stager.errors import UsageError
    from stager.home import stager_home
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger
    from stager.run.access import controller_cidrs
    from stager.run.engine import RunEngine, RunOptions
    from stager.run.plan import make_plan
    from stager.storage.manifest import ManifestStore

    home = stager_home()
    path = existing_ledger(ledger, run_id)
    with Ledger.open(path) as opened:
        original = opened.run(run_id)
    if not original.images:
        raise UsageError(f"run {original.id} recorded no image (it stopped before one was ready), so it cannot be "
                         "reproduced on the same image; run its pipeline with `stager run` instead")
    image = original.images[-1]  # a resumed run may record its image again: the last one trained
    spec = recorded_spec(original, target=target)
    drifts = dataset_drift(original, spec, home=home)
    if drifts and not allow_drift:
        raise UsageError(drift_message(original.id, drifts))
    for drift in drifts:
        _err(f"warning: dataset {drift.name} drifted since run {original.id}: {drift.describe()}")
    with open_target(spec.target) as cloud_target:
        pinned = cloud_target.cloud.get_image(image.image_id)
        if pinned is None or pinned.status != "available":
            raise UsageError(f"image {image.image_id} of run {original.id} no longer exists on target {spec.target}, "
                             "so the run cannot be reproduced on the same image")
        plan = make_plan(spec, cloud=cloud_target.cloud, find_image=lambda _digest: pinned, home=home)
        if dry_run:
            typer.echo(f"reproducing run {original.id} on image {image.image_id} (pinned)")
            for line in plan.describe():
                typer.echo(line)
            return
        if not yes:
            check_budget(plan.estimate, spec.budget)
        ssh_from = tuple(controller_cidrs(spec.target))
        link = {"run": original.id, "allow_drift": allow_drift, "drift": drift_files(drifts)}
        options = RunOptions(runs_dir=runs_dir, home=home, say=_err, ssh_from=ssh_from, image_id=image.image_id,
                             image_recipe_hash=image.recipe_hash, opening_events=((REPRODUCES_EVENT, link),),
                             **_PACE[spec.target])
        with Ledger.open(path, clock=cloud_target.cloud.now) as opened:
            result = RunEngine(spec, cloud_target, opened, plan, options).run()
            before, after = opened.run(original.id), opened.run(result.run_id)
    typer.echo(f"{result.run_id} {result.state}")
    for line in diff_runs(before, after, manifests=ManifestStore(home)).lines():
        typer.echo(line)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
