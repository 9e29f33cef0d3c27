"""``stager runs verify``: whether a run's ledger record and the files it left are still what was recorded.

A thin layer over ``stager.audit.verify``: it opens the ledger and the Object
Storage clients, prints one line per run (and one per finding), and exits 1 when
anything changed so a script or a CI job can rely on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["verify"]


def verify(
    run_id: str | None = typer.Argument(None, help="A run id, or a unique start of one (default: every run)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the runs' folders are."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: an object for one run, a list for all."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Check runs against the ledger: its hash chain, and every recorded artifact re-hashed, local and in storage.

    Exits 0 when everything checked matches, 1 when anything changed (each change
    is named), 2 for an unknown run. What could not be checked is said, not counted.
    """
    from stager.audit.verify import object_storage_clients, verify_all, verify_run
    from stager.errors import UsageError
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.ledger.location import ledger_exists

    home = stager_home()
    path = ledger if ledger is not None else home / LEDGER_FILE
    if not ledger_exists(path):  # verifying never creates a ledger
        if run_id is not None:
            raise UsageError(f"no run {run_id}: there is no ledger at {path} yet")
        typer.echo("[]" if as_json else f"no runs yet ({path} does not exist)")
        return
    with Ledger.open(path) as opened, object_storage_clients(home) as clients:
        if run_id is not None:
            results = [verify_run(opened, run_id, runs_dir=runs_dir, s3_client_for=clients)]
        else:
            results = verify_all(opened, runs_dir=runs_dir, s3_client_for=clients)
    if as_json:
        data = [r.to_json() for r in results]
        typer.echo(json.dumps(data[0] if run_id is not None else data, indent=2))
    else:
        if not results:
            typer.echo(f"no runs in {path}")
        for result in results:
            typer.echo(result.summary())
            for finding in result.findings:
                typer.echo(f"  {finding}")
            for note in result.not_checked:
                typer.echo(f"  {note}")
    if not all(r.intact for r in results):
        raise typer.Exit(1)
