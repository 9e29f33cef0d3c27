"""``stager runs list|show``: what ran, in which state, for how much, read from the ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from stager import display

app = typer.Typer(help="List, show, verify and compare runs, from the ledger ($STAGER_HOME/ledger.sqlite).",
                  no_args_is_help=True, add_completion=False)

_JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
_LEDGER = typer.Option(None, "--ledger", help="The ledger file (default: $STAGER_HOME/ledger.sqlite).")


def _ledger_path(given: Path | None) -> Path:
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE

    return given if given is not None else stager_home() / LEDGER_FILE


def _console():
    from rich.console import Console

    # Off a terminal rich would cut cells to 80 columns: pipes and files get whole ids.
    return Console(width=None if sys.stdout.isatty() else 240, highlight=False)


_when, _duration, _usd = display.when, display.duration, display.usd


@app.command("list")
def list_runs(
    status: str | None = typer.Option(None, "--status", help="Only runs in this state, e.g. failed."),
    since: str | None = typer.Option(None, "--since", help="Only runs created since: YYYY-MM-DD, an ISO time "
                                     "(local unless zoned) or an age like 12h or 7d."),
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only runs of this pipeline (its name)."),
    sprint: str | None = typer.Option(None, "--sprint", help="Only runs of this sprint id."),
    limit: int = typer.Option(50, "--limit", "-n", min=0, help="At most this many runs, newest first (0: all)."),
    as_json: bool = _JSON,
    ledger: Path | None = _LEDGER,
) -> None:
    """Runs, newest first: id, pipeline, target, state, created, duration, estimated and actual dollars."""
    from stager.ledger import Ledger
    from stager.ledger.location import ledger_exists
    from stager.ledger.reading import check_status
    from stager.ledger.timestamps import parse_since

    since_time = parse_since(since) if since is not None else None
    path = _ledger_path(ledger)
    exists, where = ledger_exists(path), str(path)
    summaries = []
    if exists:  # listing never creates a ledger
        with Ledger.open(path) as opened:
            where = opened.where
            summaries = opened.runs(status=status, since=since_time, pipeline=pipeline, sprint=sprint)
    else:
        check_status(status)
    more = len(summaries) - limit if limit and len(summaries) > limit else 0
    if more:
        summaries = summaries[:limit]
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    if not summaries:
        typer.echo(f"no runs match in {where}" if exists else f"no runs yet ({path} does not exist)")
        return
    rows = [(s.id, s.pipeline, s.target, s.state, _when(s.created),
             _duration(s.duration()) + ("" if s.is_finished else " (so far)"), _usd(s.estimated_usd),
             _usd(s.actual_usd)) for s in summaries]
    typer.echo(_columns(("id", "pipeline", "target", "state", "created", "duration", "estimated", "actual"), rows))
    if more:
        typer.echo(f"... and {more} older run(s): --limit 0 lists them all")


def _columns(headings: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain aligned table: a ledger of thousands of runs prints in milliseconds, where rich takes seconds."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headings)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in (headings, *rows))


@app.command()
def show(
    run_id: str = typer.Argument(..., help="A run id, or a unique start of one."),
    as_json: bool = _JSON,
    ledger: Path | None = _LEDGER,
) -> None:
    """One run in full: states, resources and their cost, data, image, artifacts, events, spec, chain check."""
    from stager.ledger import Ledger
    from stager.ledger.location import existing_ledger

    path = existing_ledger(ledger, run_id)
    with Ledger.open(path) as opened:
        record = opened.run(run_id)
        problems = opened.verify_chain(record.id)
    if as_json:
        data = {**record.to_json(), "billed_usd": record.billed_usd, "chain_problems": problems}
        typer.echo(json.dumps(data, indent=2))
        return
    _print_record(record, problems)


def _print_record(record, problems: list[str]) -> None:
    import yaml
    from rich.table import Table

    console = _console()
    git = record.git or {}
    lines = [
        ("run", record.id),
        ("pipeline", f"{record.pipeline} ({record.pipeline_file})"),
        ("target", record.target),
        ("sprint", record.sprint_id or "-"),
        ("state", record.state),
        ("created", _when(record.created)),
        ("finished", _when(record.finished)),
        ("duration", _duration(record.duration()) + ("" if record.is_finished else " (so far)")),
        ("cost", f"estimated {_usd(record.estimated_usd)}, actual {_usd(record.actual_usd)}, "
                 f"billed resources {_usd(record.billed_usd)}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(record.versions.items())) or "-"),
        ("instance", _instance_environment(record.instance_environment)),
        ("git", f"{git.get('commit') or '-'}{' (dirty)' if git.get('dirty') else ''}" if git else "not a git checkout"),
        ("chain", f"intact, head {record.head_hash}" if not problems else f"{len(problems)} problem(s)"),
    ]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        console.print(f"{key:<{width}}  {value}", markup=False)
    for problem in problems:
        console.print(f"  chain problem: {problem}", markup=False, style="red")

    def section(title: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        table = Table(*columns, box=None, title=title, title_justify="left", title_style="bold")
        for row in rows:
            table.add_row(*(str(cell) if cell is not None else "-" for cell in row))
        console.print()
        console.print(table)

    section("states", ("time", "state", "reason"), [(_when(t.time), t.state, t.reason) for t in record.transitions])
    section("resources", ("kind", "id", "label", "plan", "region", "created", "deleted", "hours", "cost"),
            [(r.kind, r.provider_id, r.label, r.plan, r.region, _when(r.created),
              _when(r.deleted) if r.deleted else "LIVE", r.billed_hours, _usd(r.usd)) for r in record.resources])
    section("datasets", ("name", "digest", "validation"),
            [(d.name, d.digest, "ok" if d.ok else "FAILED") for d in record.datasets])
    section("images", ("image", "recipe hash"), [(i.image_id, i.recipe_hash) for i in record.images])
    section("artifacts", ("path", "size", "sha256", "location"),
            [(a.path, f"{a.size:,}", a.sha256[:16], a.location) for a in record.artifacts])
    section("costs", ("time", "estimated", "actual"),
            [(_when(c.time), _usd(c.estimated_usd), _usd(c.actual_usd)) for c in record.costs])
    section("events", ("seq", "time", "kind", "data"),
            [(e.seq, _when(e.time), e.kind, _event_data(e)) for e in record.events])
    console.print()
    console.print("spec", style="bold")
    console.print(yaml.safe_dump(record.spec, sort_keys=False).rstrip() or "{}", markup=False)


# (command, module under stager.cli, function): each audit command lives in its own module.
_AUDIT_COMMANDS = (
    ("verify", "runs_verify", "verify"),
    ("diff", "runs_diff", "diff"),
    ("logs", "runs_logs", "logs"),
    ("report", "runs_report", "report"),
    ("export", "runs_export", "export"),
    ("verify-export", "runs_export", "verify_export"),
    ("reproduce", "runs_reproduce", "reproduce"),
)


def _instance_environment(environment: dict | None) -> str:
    if not environment:
        return "- (no report from a training instance)"
    packages = environment.get("packages") or {}
    shown = ", ".join(f"{name} {packages[name]}" for name in ("torch", "numpy", "stager") if name in packages)
    return (f"python {environment.get('python', '?')}, {len(packages)} packages" + (f" ({shown})" if shown else "")
            + "; the whole list: --json")


def _event_data(event) -> str:
    from stager.ledger.records import INSTANCE_ENVIRONMENT

    if event.kind == INSTANCE_ENVIRONMENT:  # a hundred packages would drown the table
        data = {**event.data, "packages": f"{len(event.data.get('packages') or {})} packages"}
        return json.dumps(data, sort_keys=True)
    return json.dumps(event.data, sort_keys=True)


def _register_audit_commands() -> None:
    """Register the audit commands; stager.audit does their work."""
    from importlib import import_module

    for name, module, function in _AUDIT_COMMANDS:
        app.command(name)(getattr(import_module(f"stager.cli.{module}"), function))


_register_audit_commands()
