"""``stager runs diff A B``: why two runs' results differ, read from the ledger and the dataset manifests.

A difference is information, not a failure: the command exits 0 whenever both
runs exist, whatever it finds.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["diff"]


def diff(
    a: str = typer.Argument(..., help="Run A: a run id, or a unique start of one."),
    b: str = typer.Argument(..., help="Run B: a run id, or a unique start of one."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
) -> None:
    """What differs from run A to run B: spec, data (down to files), image, versions, code, cost, final metrics."""
    from stager.audit.diff import diff_runs
    from stager.home import stager_home
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger
    from stager.storage.manifest import ManifestStore

    home = stager_home()
    path = existing_ledger(ledger, a)
    with Ledger.open(path) as opened:
        record_a, record_b = opened.run(a), opened.run(b)
    result = diff_runs(record_a, record_b, manifests=ManifestStore(home))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    for line in result.lines():
        typer.echo(line)
