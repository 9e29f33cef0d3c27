"""``stager runs export RUN -o run.tar.gz`` and ``stager runs verify-export FILE``: a run, packed to travel, checked.

An export holds what is needed to audit or reproduce the run elsewhere: the
spec, the dataset manifests, the run's files, its ledger extract and an index
of every file's sha256 (see ``stager.audit.export``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

__all__ = ["export", "verify_export"]


def export(
    run_id: str = typer.Argument(..., help="A run id, or a unique start of one."),
    output: Path = typer.Option(..., "--output", "-o", help="The archive to write, e.g. run.tar.gz."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the run's folder is."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
    with_checkpoints: bool = typer.Option(True, "--with-checkpoints/--no-checkpoints",
                                          help="Enclose the checkpoints (default), or list only where they are "
                                               "kept and their sha256."),
) -> None:
    """Pack one run into a tar.gz: spec, dataset manifests, logs, metrics, checkpoints, ledger extract, index."""
    from stager.audit.export import export_run
    from stager.errors import UsageError
    from stager.home import stager_home
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger

    home = stager_home()
    path = existing_ledger(ledger, run_id)
    try:
        with Ledger.open(path) as opened:
            result = export_run(opened, run_id, runs_dir=runs_dir, home=home, output=output,
                                with_checkpoints=with_checkpoints)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write the export ({exc.strerror or exc}); choose another -o") from None
    if result.unavailable:
        print(f"warning: not in the export of {result.run_id} (unavailable): {'; '.join(result.unavailable)}",
              file=sys.stderr, flush=True)
    typer.echo(f"{result.path}: run {result.run_id}, {result.files} files, {result.bytes:,} bytes")


def verify_export(
    archive: Path = typer.Argument(..., help="An archive written by `stager runs export`."),
) -> None:
    """Check an export: every file against its index, the ledger extract's hash chain, manifests, checkpoints."""
    from stager.audit.export import check_export

    problems = check_export(archive)
    if problems:
        typer.echo(f"{archive} CHANGED ({len(problems)} finding(s))")
        for problem in problems:
            typer.echo(f"  {problem}")
        raise typer.Exit(1)
    typer.echo(f"{archive} intact")
