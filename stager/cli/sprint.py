"""``stager sprint plan|run|status|schedule|unschedule|list``: many experiments under one budget."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import typer

from stager.cli.run import _err

app = typer.Typer(help="Training sprints: a sweep of experiments packed onto few billed instance-hours, under a "
                       "budget, run now or on a schedule.", no_args_is_help=True, add_completion=False)

_FILE = typer.Argument(..., help="The sprint file: a pipeline with a `sprint:` section, e.g. pipelines/sprint.yaml.")
_TARGET = typer.Option(None, "--target", "-t", help="local or linode (default: the file's).")
_JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("plan")
def plan(
    file: Path = _FILE,
    target: str | None = _TARGET,
    as_json: bool = _JSON,
    at: str | None = typer.Option(None, "--at", help="Plan for a start at this UTC time (ISO 8601) or `now` "
                                                     "(default: the next scheduled start, else now)."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few training steps here when no past run "
                                                                "says how long an experiment takes."),
    refresh_prices: bool = typer.Option(False, "--refresh-prices", help="Read /linode/types again now."),
) -> None:
    """Print the plan (instances, experiments on each, times, billed hours, dollars) beside the naive plan."""
    sprint_plan, _run_plan = _planned(_sprint(file, target), at=at, probe=probe, refresh_prices=refresh_prices)
    if as_json:
        typer.echo(json.dumps(sprint_plan.to_json(), indent=2))
        return
    for line in sprint_plan.describe():
        typer.echo(line)


@app.command("run")
def run(
    file: Path = _FILE,
    target: str | None = _TARGET,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few training steps here when no past run "
                                                                "says how long an experiment takes."),
    ignore_window: bool = typer.Option(False, "--ignore-window", help="Start now even outside sprint.window."),
) -> None:
    """Run the sprint now: its plan executed, every experiment a run in the ledger, everything torn down."""
    from stager.cli.run import _PACE
    from stager.cloud import open_target
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.run.access import controller_cidrs
    from stager.run.engine import RunOptions
    from stager.sprint.runner import SprintRunner

    home = stager_home()
    sprint = _sprint(file, target)
    if not ignore_window:
        _check_window(sprint, datetime.now(timezone.utc))
    with open_target(sprint.pipeline.target) as opened:
        sprint_plan, run_plan = _planned(sprint, at="now", probe=probe, opened=opened)
        for line in sprint_plan.describe():
            _err(line)
        ssh_from = tuple(controller_cidrs(sprint.pipeline.target))
        options = RunOptions(runs_dir=runs_dir, home=home, say=_err, ssh_from=ssh_from,
                             **_PACE[sprint.pipeline.target])
        with Ledger.open(home / LEDGER_FILE, clock=opened.cloud.now) as ledger:
            result = SprintRunner(sprint, sprint_plan, opened, ledger, run_plan, options).run()
    typer.echo(f"{result.run_id} {result.state}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command("status")
def status(
    sprint_id: str | None = typer.Argument(None, help="The sprint id (default: the newest sprint)."),
    as_json: bool = _JSON,
) -> None:
    """Done, running and queued experiments, dollars spent and left, and the best result so far."""
    from stager.home import stager_home
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.ledger.location import ledger_exists
    from stager.sprint.status import latest_sprint, sprint_status

    path = stager_home() / LEDGER_FILE
    if not ledger_exists(path):
        from stager.errors import UsageError

        raise UsageError(f"no ledger at {path}: no sprint has run here (set STAGER_HOME to where they ran)")
    with Ledger.open(path) as ledger:
        state = sprint_status(ledger, sprint_id or latest_sprint(ledger))
    if as_json:
        typer.echo(json.dumps(state.to_json(), indent=2))
        return
    left = f", ${state.left_usd:.2f} left of ${state.budget_usd:.2f}" if state.budget_usd is not None else ""
    typer.echo(f"sprint {state.sprint_id} ({state.name}): {state.state}")
    typer.echo(f"experiments: {state.count('succeeded', 'failed', 'aborted')} done, "
               f"{state.count('pending', 'training', 'collecting', 'tearing_down')} running, "
               f"{state.count('queued')} queued; ${state.spent_usd:.2f} spent{left}")
    metric, mode = state.objective
    if state.best is not None:
        typer.echo(f"best so far: {state.best.name} ({state.best.run_id}) {metric} {state.best.metrics[metric]:.4g}")
    else:
        typer.echo(f"best so far: none yet ({metric}, {mode})")
    for e in state.experiments:
        value = e.metrics.get(metric)
        shown = f"{metric} {value:.4g}" if isinstance(value, (int, float)) else ""
        typer.echo(f"  {e.name:<12} {e.state:<10} {e.run_id or '-':<28} {shown:<18} {e.reason or ''}".rstrip())


@app.command("schedule")
def schedule(file: Path = _FILE) -> None:
    """Install the sprint to run unattended at its `sprint.schedule` (a systemd timer, else a crontab entry)."""
    from stager.errors import UsageError
    from stager.home import stager_home
    from stager.sprint.schedule import install

    sprint = _sprint(file, None)
    if sprint.schedule is None:
        raise UsageError(f"{file}: `sprint.schedule` is not set: add a cron expression, e.g. "
                         f'schedule: "0 22 * * 1-5"')
    done = install(sprint.name, sprint.path, sprint.schedule, workdir=Path.cwd(), home=stager_home().resolve(),
                   gc_target=sprint.pipeline.target)
    for line in _describe_scheduled(done):
        typer.echo(line)


@app.command("unschedule")
def unschedule(name: str = typer.Argument(..., help="The sprint's name (its `name:`), as `stager sprint list` "
                                                    "shows it.")) -> None:
    """Remove a sprint's schedule."""
    from stager.sprint.schedule import uninstall

    removed = uninstall(name)
    typer.echo(f"unscheduled {removed.name} ({removed.kind}): `{removed.cron}` no longer runs {removed.sprint_file}")


@app.command("list")
def list_scheduled(as_json: bool = _JSON) -> None:
    """The sprints installed to run on a schedule, with their next start."""
    from stager.sprint.schedule import list_scheduled as scheduled

    items = scheduled()
    if as_json:
        typer.echo(json.dumps([_scheduled_json(item) for item in items], indent=2, default=str))
        return
    if not items:
        typer.echo("no sprint is scheduled (install one with `stager sprint schedule FILE`)")
    for item in items:
        for line in _describe_scheduled(item):
            typer.echo(line)


# -- helpers ----------------------------------------------------------------------------------------


def _sprint(file: Path, target: str | None):
    from stager.sprint.spec import load_sprint

    return load_sprint(file, target=target)


def _check_window(sprint, now: datetime) -> None:
    from stager.errors import UsageError

    window = sprint.window
    if window is not None and not window.contains(now):
        raise UsageError(f"{sprint.path}: `sprint.window`: it is {now:%H:%M} UTC, outside the window "
                         f"{window.start:%H:%M}-{window.end:%H:%M} UTC; schedule it (`stager sprint schedule`) "
                         f"or pass --ignore-window")


def _planned(sprint, *, at: str | None, probe: bool, refresh_prices: bool = False, opened=None):
    """The sprint's plan and the run plan of its pipeline (image and data facts), with prices from its target."""
    from stager.cloud import open_target
    from stager.cost.prices import load_prices
    from stager.home import stager_home
    from stager.image.builder import ImageBuilder
    from stager.ledger import LEDGER_FILE, Ledger
    from stager.ledger.location import ledger_exists
    from stager.run.plan import make_plan
    from stager.sprint.plan import make_sprint_plan

    home = stager_home()
    start = _start(sprint, at)
    own = opened is None
    opened = opened or open_target(sprint.pipeline.target)
    try:
        finder = ImageBuilder(opened, home=home, say=_err).find_image
        run_plan = make_plan(sprint.pipeline, cloud=opened.cloud, find_image=finder, home=home)
        prices = load_prices(opened.cloud, home=home, target=sprint.pipeline.target, refresh=refresh_prices)
        ledger_path = home / LEDGER_FILE
        ledger = Ledger.open(ledger_path) if ledger_exists(ledger_path) else None
        try:
            sprint_plan = make_sprint_plan(sprint, prices=prices, ledger=ledger, start=start,
                                           build_image=run_plan.image_id is None, probe=probe, say=_err)
        finally:
            if ledger is not None:
                ledger.close()
    finally:
        if own:
            opened.close()
    return sprint_plan, run_plan


def _start(sprint, at: str | None) -> datetime:
    from stager.errors import UsageError

    now = datetime.now(timezone.utc)
    if at == "now":
        return now
    if at is not None:
        try:
            moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--at {at!r}: expected `now` or an ISO time such as 2026-11-22T22:00:00Z") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if sprint.schedule is not None:
        from stager.sprint.cron import parse_cron

        # cron reads its fields in this machine's time zone, as the installed timer will
        return parse_cron(sprint.schedule).next_after(now.astimezone()).astimezone(timezone.utc)
    return sprint.window.next_start(now) if sprint.window else now


def _describe_scheduled(item) -> list[str]:
    state = "" if getattr(item, "enabled", True) else ", not enabled yet"
    lines = [f"{item.name}: `{item.cron}` ({item.kind}{state}) runs {item.sprint_file}"]
    nxt = getattr(item, "next_run", None)
    if nxt is not None:
        lines.append(f"  next start: {nxt:%Y-%m-%d %H:%M} UTC")
    for note in getattr(item, "notes", ()) or ():
        lines.append(f"  {note}")
    return lines


def _scheduled_json(item) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(item) if is_dataclass(item) else dict(item)
