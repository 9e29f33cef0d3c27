"""``stager cost report``: dollars billed and instance-hours against estimates, read from the ledger.

A thin layer over ``stager.audit.costs``: it opens the ledger (never creating one) and prints.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import typer

__all__ = ["app", "report"]

app = typer.Typer(help="What training cost: dollars billed by Linode's rule and instance-hours, against the "
                       "estimates, from the ledger ($STAGER_HOME/ledger.sqlite).",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def cost() -> None:
    """What training cost, from the ledger."""
    # A callback keeps `report` a subcommand: typer would make a lone command the app itself.


@app.command()
def report(
    by: str = typer.Option("day", "--by", help="Group by day, month, pipeline, sprint or plan (days are UTC)."),
    since: str | None = typer.Option(None, "--since", help="Only what started since: YYYY-MM-DD, an ISO time "
                                     "(local unless zoned) or an age like 12h or 7d."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: "
                                       "$STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Per group: runs, instance-hours, billed and estimated dollars, and their difference; then the total.

    A sprint's money is counted once, from its instances; its experiments' shares are not added again.
    """
    from stager.audit.costs import cost_report
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.ledger.location import ledger_exists
    from stager.ledger.timestamps import parse_since

    now = datetime.now(timezone.utc)
    since_time = parse_since(since, now) if since is not None else None
    path = ledger if ledger is not None else stager_home() / LEDGER_FILE
    exists = ledger_exists(path)
    if exists:  # a report never creates a ledger
        with Ledger.open(path) as opened:
            result = cost_report(opened, by=by, since=since_time, now=now)
    else:
        result = cost_report(None, by=by, since=since_time, now=now)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    if not exists:
        typer.echo(f"no runs yet ({path} does not exist)")
        return
    for line in result.lines():
        typer.echo(line)
