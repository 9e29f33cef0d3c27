"""What a scheduled sprint is, the job it runs, and the entry points that install, remove and list it.

A sprint scheduled for the night must start with nobody at the keyboard, and
whatever it leaves behind must still be cleaned up. So the installed job runs,
in the directory stager was scheduled from and with the same ``STAGER_HOME``::

    <stager> sprint run <sprint file>; <stager> gc

``gc`` runs whatever the sprint's outcome, the job's exit status is the
sprint's (else gc's), and both append their output to
``$STAGER_HOME/schedule/<name>.log``. The units and the crontab line come from
the templates in ``infra/schedule/`` (packaged as ``stager/sprint/templates``).

Where it goes (``choose_scheduler``): systemd user units in
``~/.config/systemd/user`` when systemd is running, else the user's crontab when
``crontab`` is on PATH. ``STAGER_SCHEDULER=systemd|cron`` forces one;
``STAGER_SYSTEMD_DIR`` puts the unit files elsewhere, and there a systemd that
cannot be reached only skips enabling (the result says how to enable by hand).

No secret is ever written: the job reads ``LINODE_TOKEN`` and the Object Storage
keys at run time from ``~/.config/stager/env`` (systemd's ``EnvironmentFile=``;
cron sources it) or from ``$STAGER_HOME/credentials.yaml``.

Not supported: system-wide (root) units, time zones other than the machine's,
and schedulers other than these two (run ``stager sprint run FILE; stager gc``
from them yourself).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from stager.errors import UsageError
from stager.home import stager_home
from stager.sprint.cron import Cron, parse_cron

if TYPE_CHECKING:  # at run time schedulers.py imports this module, and is imported here only inside functions
    from stager.sprint.schedulers import CrontabScheduler, Scheduler, SystemdScheduler

__all__ = [
    "ENV_FILE",
    "CrontabScheduler",
    "ScheduledSprint",
    "Scheduler",
    "SprintJob",
    "SystemdScheduler",
    "choose_scheduler",
    "default_stager_argv",
    "install",
    "list_scheduled",
    "render_crontab_line",
    "render_systemd",
    "uninstall",
]

ENV_FILE = ".config/stager/env"  # under $HOME: the job's secrets, one KEY=value per line, never written by stager
USER_UNIT_DIR = ".config/systemd/user"  # under $HOME: where systemd looks for a user's own units
UNIT_PREFIX = "stager-sprint-"
SYSTEMD_RUNNING = Path("/run/systemd/system")  # exists only when systemd is the running init (sd_booted(3))
# Debian's cron (Vixie 3.0) cuts a command at 1000 characters; refuse rather than install a broken line.
CRON_COMMAND_LIMIT = 999
_NAME = re.compile(r"[a-z0-9-]{1,40}")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ScheduledSprint:
    """A sprint installed to run at its cron time, as ``install`` wrote it or ``list_scheduled`` read it back."""

    name: str  # the sprint's pipeline name: 1-40 of a-z, 0-9 and -
    sprint_file: Path  # absolute
    cron: str  # the cron expression (a crontab holds a macro written out: "@daily" reads back as "0 0 * * *")
    kind: str  # "systemd" or "cron"
    files: tuple[Path, ...] = ()  # the unit files (systemd): service, then timer
    crontab_line: str = ""  # the line in the user's crontab (cron)
    command: tuple[str, ...] = ()  # the argv run first: <stager> sprint run <sprint_file>
    gc_command: tuple[str, ...] = ()  # the argv run next, whatever the sprint's outcome: <stager> gc
    on_calendar: tuple[str, ...] = ()  # the timer's OnCalendar= values (systemd)
    log_file: Path | None = None  # both commands append their output here
    # The next start, in UTC (found in this machine's time zone, where cron and systemd fire); None when unknown.
    next_run: datetime | None = None
    enabled: bool = True  # False: the files are written but systemd was not told (see notes)
    notes: tuple[str, ...] = ()  # what the user still has to do, or why something is unknown, one line each


@dataclass(frozen=True)
class SprintJob:
    """What a scheduler installs for one sprint: checked, with every path absolute."""

    name: str
    sprint_file: Path  # absolute
    cron: Cron
    stager_argv: tuple[str, ...]  # how to start stager: [python, "-m", "stager"] or [".../bin/stager"]
    workdir: Path  # absolute: the job runs here
    home: Path  # absolute: STAGER_HOME for the job
    gc_target: str | None  # passed to `stager gc --target`; None for gc's default

    @property
    def command(self) -> tuple[str, ...]:
        return (*self.stager_argv, "sprint", "run", str(self.sprint_file))

    @property
    def gc_command(self) -> tuple[str, ...]:
        return (*self.stager_argv, "gc", *(("--target", self.gc_target) if self.gc_target else ()))

    @property
    def log_file(self) -> Path:
        return self.home / "schedule" / f"{self.name}.log"


# -- rendering ---------------------------------------------------------------------------------------------------


def default_stager_argv() -> list[str]:
    """This interpreter running stager: found again at run time without relying on cron's or systemd's PATH."""
    return [sys.executable, "-m", "stager"]


def render_systemd(name: str, sprint_file: Path, cron: Cron, *, stager_argv: Sequence[str], workdir: Path,
                   home: Path, gc_target: str | None = None) -> dict[str, str]:
    """The service and timer for one sprint: {"stager-sprint-<name>.service": text, "...timer": text}.

    Raises:
        UsageError: a bad name, or a path systemd cannot hold (relative, a control character, ...).
    """
    plan = _plan(name, sprint_file, cron, stager_argv, workdir, home, gc_target)
    for path in (plan.workdir, plan.home, plan.sprint_file):
        _check_path(path)
    if plan.workdir.as_posix() != plan.workdir.as_posix().rstrip(" \t\\"):
        raise UsageError(f"working directory {str(plan.workdir)!r} ends in a space or backslash, which a systemd "
                         "unit cannot hold; schedule from another directory")
    meta = {"name": plan.name, "cron": plan.cron.expression, "sprint_file": str(plan.sprint_file),
            "command": list(plan.command), "gc_command": list(plan.gc_command), "log_file": str(plan.log_file)}
    script = _job_script(plan, standalone=False)
    service = _render("stager-sprint.service.in", {
        "name": plan.name,
        "meta": json.dumps(meta),
        "workdir": plan.workdir.as_posix().replace("%", "%%"),
        "environment": _systemd_quote(f"STAGER_HOME={plan.home}", dollars=False),
        "exec_start": f"/bin/sh -c {_systemd_quote(script)}",
    })
    timer = _render("stager-sprint.timer.in", {
        "name": plan.name,
        "cron": plan.cron.expression,
        "description": plan.cron.describe(),
        "on_calendar": "\n".join(f"OnCalendar={value}" for value in plan.cron.on_calendar()),
    })
    return {f"{UNIT_PREFIX}{plan.name}.service": service, f"{UNIT_PREFIX}{plan.name}.timer": timer}


def render_crontab_line(name: str, sprint_file: Path, cron: Cron, *, stager_argv: Sequence[str], workdir: Path,
                        home: Path, gc_target: str | None = None) -> str:
    """One crontab line (no newline) ending in ``# stager-sprint:<name>``.

    Raises:
        UsageError: a bad name, a path cron cannot hold, or a line longer than cron accepts.
    """
    plan = _plan(name, sprint_file, cron, stager_argv, workdir, home, gc_target)
    for path in (plan.workdir, plan.home, plan.sprint_file):
        _check_path(path)
    for text in (str(plan.workdir), str(plan.home), str(plan.sprint_file), *plan.stager_argv):
        if "\\%" in text:
            raise UsageError(f"{text!r} holds `\\%`, which no cron can pass on; rename it, or use systemd")
    text = _render("stager-sprint.cron.in", {"fields": plan.cron.fields, "command": _job_script(plan, standalone=True),
                                             "name": plan.name})
    line = text.strip().replace("%", "\\%")
    command = line[len(plan.cron.fields) + 1:]
    if len(command) > CRON_COMMAND_LIMIT:
        raise UsageError(f"the crontab command would be {len(command)} characters, more than cron accepts "
                         f"({CRON_COMMAND_LIMIT + 1}); use shorter paths, or systemd")
    return line


def _job_script(plan: SprintJob, *, standalone: bool) -> str:
    """The job as one /bin/sh command line; ``standalone`` adds what systemd's unit sets (cron gives neither).

    The stager program is named once (``set --``, then ``"$@"``) to keep crontab lines short.
    """
    quote = shlex.quote
    steps = []
    if standalone:
        steps += [f"cd {quote(str(plan.workdir))} || exit 1",
                  f"export STAGER_HOME={quote(str(plan.home))}",
                  f'f="$HOME/{ENV_FILE}"; if [ -r "$f" ]; then set -a; . "$f"; set +a; fi']
    steps += [
        f'mkdir -p "$STAGER_HOME/schedule" && exec >>"$STAGER_HOME/schedule/{plan.name}.log" 2>&1 || exit 1',
        f'echo "=== $(date -u): sprint {plan.name}"',
        "set -- " + " ".join(quote(arg) for arg in plan.stager_argv),
        " ".join(['"$@"', *(quote(arg) for arg in plan.command[len(plan.stager_argv):])]), "s=$?",
        " ".join(['"$@"', *(quote(arg) for arg in plan.gc_command[len(plan.stager_argv):])]), "g=$?",
        'echo "=== $(date -u): sprint exited $s, gc exited $g"',
        '[ "$s" -eq 0 ] || exit "$s"', 'exit "$g"',
    ]
    return "; ".join(steps)


def _systemd_quote(value: str, *, dollars: bool = True) -> str:
    """One double-quoted systemd word: C escapes for \\ and ", %% for specifiers, $$ where $VAR is expanded."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return '"' + (escaped.replace("$", "$$") if dollars else escaped) + '"'


def _render(template: str, values: Mapping[str, str]) -> str:
    text = (_TEMPLATES / template).read_text(encoding="utf-8")
    kept = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("##"))
    return Template(kept).substitute(values)


def _plan(name: str, sprint_file: Path, cron: Cron | str, stager_argv: Sequence[str], workdir: Path, home: Path,
          gc_target: str | None) -> SprintJob:
    _check_name(name)
    if isinstance(cron, str):
        cron = _parse(cron)
    argv = tuple(str(arg) for arg in stager_argv)
    if not argv:
        raise UsageError("stager_argv is empty: name the stager program to run")
    for arg in (*argv, gc_target or ""):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in arg):
            raise UsageError(f"{arg!r} holds a control character, which neither systemd nor cron can pass on")
    for label, path in (("sprint file", sprint_file), ("working directory", workdir), ("STAGER_HOME", home)):
        if not Path(path).is_absolute():
            raise UsageError(f"{label} {str(path)!r} must be an absolute path")
    return SprintJob(name, Path(sprint_file), cron, argv, Path(workdir), Path(home), gc_target)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"sprint name {name!r}: use 1-40 characters from a-z, 0-9 and -")


def _check_path(path: Path) -> None:
    text = str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise UsageError(f"path {text!r} holds a control character (a newline?), which neither systemd nor cron "
                         "can hold; rename it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"path {text!r} is not valid UTF-8; rename it") from None


def _parse(expression: str) -> Cron:
    try:
        cron = parse_cron(expression)
    except ValueError as error:
        raise UsageError(f"sprint.schedule: {error}") from None
    if not cron.fires():
        raise UsageError(f"sprint.schedule: cron expression `{cron.expression}` never fires: it names only dates "
                         "that do not exist")
    return cron


# -- when it runs next -------------------------------------------------------------------------------------------


def _next_run(expression: str) -> datetime | None:
    """When a sprint scheduled at ``expression`` next starts, in UTC; None when unknown."""
    try:
        return parse_cron(expression).next_after(datetime.now(_local_zone())).astimezone(timezone.utc)
    except ValueError:
        return None


def _local_zone() -> tzinfo:
    """The machine's zone with its daylight-saving rules when known (cron and systemd fire in it)."""
    from zoneinfo import ZoneInfo

    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            name = os.readlink("/etc/localtime").partition("zoneinfo/")[2]
        except OSError:
            name = ""
    try:
        return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo
    except (ValueError, OSError):
        return datetime.now().astimezone().tzinfo


# -- choosing, and what the CLI calls ----------------------------------------------------------------------------


def __getattr__(name: str) -> object:
    """The schedulers, importable from here as well; loaded on first use (stager.sprint.schedulers imports us)."""
    if name in ("Scheduler", "SystemdScheduler", "CrontabScheduler"):
        from stager.sprint import schedulers

        return getattr(schedulers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def choose_scheduler(environ: Mapping[str, str] | None = None) -> Scheduler:
    """systemd when it runs here, else cron when ``crontab`` is on PATH; ``STAGER_SCHEDULER`` overrides.

    Raises:
        UsageError: neither is available, or STAGER_SCHEDULER names something else.
    """
    from stager.sprint.schedulers import CrontabScheduler, SystemdScheduler

    env = os.environ if environ is None else environ
    forced = env.get("STAGER_SCHEDULER", "").strip().lower()
    if forced not in ("", "systemd", "cron"):
        raise UsageError(f"STAGER_SCHEDULER={forced!r}: use systemd or cron")
    custom_dir = env.get("STAGER_SYSTEMD_DIR", "")
    crontab = shutil.which("crontab", path=env.get("PATH"))
    if forced == "systemd" or (not forced and SYSTEMD_RUNNING.is_dir()):
        unit_dir = Path(custom_dir).expanduser() if custom_dir else Path.home() / USER_UNIT_DIR
        return SystemdScheduler(unit_dir, custom_dir=bool(custom_dir),
                                systemctl=shutil.which("systemctl", path=env.get("PATH")) or "")
    if crontab:
        return CrontabScheduler(crontab)
    if forced == "cron":
        raise UsageError("STAGER_SCHEDULER=cron but there is no `crontab` program on PATH")
    raise UsageError("neither systemd nor cron is available here to schedule the sprint; have your own scheduler "
                     "run `stager sprint run FILE; stager gc` in this directory at the sprint's time instead")


def install(name: str, sprint_file: Path | str, cron: Cron | str, *, stager_argv: Sequence[str] | None = None,
            workdir: Path | None = None, home: Path | None = None, gc_target: str | None = None,
            scheduler: Scheduler | None = None) -> ScheduledSprint:
    """Install (or replace) the sprint ``name`` to run ``sprint_file`` at ``cron``'s times; what was installed.

    ``workdir`` defaults to the current directory, ``home`` to STAGER_HOME, ``stager_argv`` to this
    interpreter's ``-m stager``, ``gc_target`` to gc's own default.

    Raises:
        UsageError: a bad name or cron expression, a missing sprint file, no scheduler available.
        StagerError: systemd or crontab refused; the message says what to run by hand.
    """
    path = Path(sprint_file).expanduser()
    if not path.is_file():
        raise UsageError(f"sprint file {str(sprint_file)!r} does not exist")
    workdir = Path(workdir or Path.cwd()).expanduser().resolve()
    if not workdir.is_dir():
        raise UsageError(f"working directory {str(workdir)!r} does not exist")
    home = Path(home or stager_home()).expanduser()
    home = home if home.is_absolute() else (workdir / home)
    plan = _plan(name, path.resolve(), cron, default_stager_argv() if stager_argv is None else stager_argv,
                 workdir, home, gc_target)
    chosen = scheduler or choose_scheduler()
    (plan.home / "schedule").mkdir(parents=True, exist_ok=True)  # for the log, before the first run
    return chosen.install(plan)


def uninstall(name: str, *, scheduler: Scheduler | None = None) -> ScheduledSprint:
    """Remove the scheduled sprint ``name``; what was removed (its ``notes`` say what is left to do by hand).

    Raises:
        UsageError: a bad name, or no sprint of that name is scheduled.
    """
    _check_name(name)
    chosen = scheduler or choose_scheduler()
    removed = chosen.uninstall(name)
    if removed is None:
        raise UsageError(f"no sprint named {name!r} is scheduled ({chosen.kind}); see `stager sprint list`")
    return removed


def list_scheduled(*, scheduler: Scheduler | None = None) -> list[ScheduledSprint]:
    """The scheduled sprints, by name, each with its next start time.

    Raises:
        UsageError: no scheduler available.
    """
    return (scheduler or choose_scheduler()).list()
