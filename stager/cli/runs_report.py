"""``stager runs report RUN_ID``: one run as a self-contained HTML page (curves, timeline, cost, data, provenance).

The page is written next to the run's other files when its folder is here, so it
travels with them; a run made elsewhere gets ``report-<run id>.html`` in the
current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

__all__ = ["report"]

REPORT_FILE = "report.html"


def report(
    run_id: str = typer.Argument(..., help="A run id, or a unique start of one."),
    output: Path = typer.Option(None, "-o", "--output", help="Where to write the page (default: <runs-dir>/<run "
                                "id>/report.html when the run's folder is there, else ./report-<run id>.html)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the runs' folders are."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Write one run's report: metric curves, stage timeline, cost, data validation and provenance, in one file.

    The page needs no network to open: its style and charts are inline. Prints the path written.
    """
    from stager.audit.report import report_html
    from stager.home import stager_home
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger

    home = stager_home()
    path = existing_ledger(ledger, run_id)
    with Ledger.open(path) as opened:
        full_id = opened.run(run_id).id
        page = report_html(opened, full_id, runs_dir=runs_dir, home=home)
    target = output if output is not None else _default_output(runs_dir, full_id)
    _write_atomically(target, page)
    typer.echo(str(target))


def _default_output(runs_dir: Path, run_id: str) -> Path:
    folder = runs_dir / run_id
    return folder / REPORT_FILE if folder.is_dir() else Path(f"report-{run_id}.html")


def _write_atomically(target: Path, text: str) -> None:
    """Write through a temporary file beside ``target``: a reader never sees half a page."""
    from stager.errors import UsageError

    temp = target.with_name(f".{target.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report to {target}: {exc.strerror or exc}; choose another place "
                         "with -o") from None
