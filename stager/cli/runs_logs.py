"""``stager runs logs RUN_ID [--follow]``: a run's training (or controller, or remote) log."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

__all__ = ["logs"]


def logs(
    run_id: str = typer.Argument(..., help="A run id, or a unique start of one."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing what is written until the run ends."),
    which: str = typer.Option("train", "--log", help="Which log: train (the trainer's output), controller "
                              "(what stager printed) or remote (every remote command and its output)."),
    tail: int = typer.Option(0, "--tail", "-n", min=0, help="Start with the last N lines (0: the whole log)."),
    raw: bool = typer.Option(False, "--raw", help="Print the trainer's `@stager {...}` record lines (metrics, "
                             "checkpoints) as JSON, as the train log holds them, instead of as readable lines."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the runs' folders are."),
    ledger: Path | None = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite)."),
) -> None:
    """Print a run's log; with --follow, keep printing until the run has finished."""
    from stager.audit.logs import LOGS, last_lines, readable
    from stager.audit.logs import follow as follow_log
    from stager.errors import UsageError
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger
    from stager.ledger.states import is_finished

    if which not in LOGS:
        raise UsageError(f"--log {which}: unknown log; choose one of {', '.join(LOGS)}")
    path = existing_ledger(ledger, run_id)
    with Ledger.open(path) as opened:
        run_id = opened.run(run_id).id
        log = runs_dir / run_id / LOGS[which]
        following = follow and not is_finished(opened.state(run_id))
        if not following and not log.is_file():
            raise UsageError(f"run {run_id} has no {which} log at {log}; pass --runs-dir with the folder its run "
                             f"folders are in (runs are kept on the machine that ran them)")
        shown = (lambda texts: texts) if raw else readable
        start = 0
        if tail and log.is_file():
            lines, start = last_lines(log, tail)
            _write(shown(lines))
        elif not following:
            _write(shown(follow_log(log, lambda: True)))  # the whole log, read once in chunks
        if following:
            _write(shown(follow_log(log, lambda: is_finished(opened.state(run_id)), start=start)))


def _write(texts) -> None:
    for text in texts:
        sys.stdout.write(text)
        sys.stdout.flush()
