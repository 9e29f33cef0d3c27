"""Where scheduled sprints live: systemd user units or the user's crontab, written, read back and removed.

``SystemdScheduler`` writes a service and a timer and enables them through
``systemctl --user``; ``CrontabScheduler`` keeps one marked line per sprint in
the user's crontab. Both read back what they wrote as ``ScheduledSprint``.
What they write is rendered by ``stager.sprint.schedule``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from stager.errors import StagerError
from stager.sprint.schedule import (
    _NAME,
    UNIT_PREFIX,
    ScheduledSprint,
    SprintJob,
    _next_run,
    render_crontab_line,
    render_systemd,
)

__all__ = ["CRON_MARKER", "UNIT_META", "CrontabScheduler", "Scheduler", "SystemdScheduler"]

CRON_MARKER = "# stager-sprint:"  # ends every crontab line stager wrote, followed by the sprint's name
UNIT_META = "# stager-sprint: "  # starts the service's comment line of JSON that list_scheduled reads back
_META_KEYS = {"name", "cron", "sprint_file", "command", "gc_command", "log_file"}


class Scheduler(Protocol):
    """Where scheduled sprints live: systemd user units or the user's crontab."""

    kind: str  # "systemd" or "cron"

    def install(self, plan: SprintJob) -> ScheduledSprint: ...

    def uninstall(self, name: str) -> ScheduledSprint | None: ...

    def list(self) -> list[ScheduledSprint]: ...


class SystemdScheduler:
    """Unit files in ``unit_dir``, enabled through ``systemctl --user``; ``systemctl`` is its path, "" for none."""

    kind = "systemd"

    def __init__(self, unit_dir: Path, *, custom_dir: bool = False, systemctl: str | None = None) -> None:
        self.unit_dir = Path(unit_dir)
        self.custom_dir = custom_dir  # STAGER_SYSTEMD_DIR: a systemd out of reach only skips enabling
        self.systemctl = systemctl if systemctl is not None else shutil.which("systemctl")

    def install(self, plan: SprintJob) -> ScheduledSprint:
        units = render_systemd(plan.name, plan.sprint_file, plan.cron, stager_argv=plan.stager_argv,
                               workdir=plan.workdir, home=plan.home, gc_target=plan.gc_target)
        service, timer = (self.unit_dir / unit for unit in units)
        replacing = timer.exists()
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        for path, text in zip((service, timer), units.values()):
            partial = path.with_name(path.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        # daemon-reload first: it needs the user manager, so an unreachable one is found before anything changes
        # (link, for one, would write its symlinks without it).
        steps = [["daemon-reload"], ["enable", "--now", timer.name]]
        if self.custom_dir:
            steps.insert(1, ["link", str(service), str(timer)])  # outside systemd's search path
        if replacing:
            steps.append(["restart", timer.name])  # a running timer keeps its old OnCalendar= until restarted
        enabled, note = self._run(steps, files=(service, timer))
        if enabled and not _lingering():
            note = ("the timer fires only while you are logged in; to run it when you are not, run: "
                    f"loginctl enable-linger {_user()}")
        return replace(self._read(plan.name), enabled=enabled, notes=(note,) if note else ())

    def uninstall(self, name: str) -> ScheduledSprint | None:
        service, timer = self._paths(name)
        if not service.exists() and not timer.exists():
            return None
        found = self._read(name)
        reachable, _ = self._systemctl("daemon-reload")  # as in install: find out before systemctl changes anything
        if reachable:
            self._systemctl("disable", "--now", timer.name)
        service.unlink(missing_ok=True)
        timer.unlink(missing_ok=True)
        note = ""
        if reachable:
            self._systemctl("daemon-reload")
        else:
            note = ("systemctl --user could not be reached; if this timer was enabled elsewhere, run there: "
                    f"systemctl --user disable --now {timer.name}")
        return replace(found, notes=(note,) if note else ())

    def list(self) -> list[ScheduledSprint]:
        if not self.unit_dir.is_dir():
            return []
        timers = self.unit_dir.glob(f"{UNIT_PREFIX}*.timer")
        names = sorted(path.name[len(UNIT_PREFIX):-len(".timer")] for path in timers)
        return [self._read(name) for name in names if _NAME.fullmatch(name)]

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.unit_dir / f"{UNIT_PREFIX}{name}.service", self.unit_dir / f"{UNIT_PREFIX}{name}.timer"

    def _read(self, name: str) -> ScheduledSprint:
        service, timer = self._paths(name)
        meta: dict = {}
        if service.exists():
            for line in service.read_text(encoding="utf-8").splitlines():
                if line.startswith(UNIT_META):
                    try:
                        meta = json.loads(line[len(UNIT_META):])
                    except ValueError:
                        meta = {}
        if not isinstance(meta, dict) or not _META_KEYS <= meta.keys():
            meta = {}
        calendar = tuple(line.partition("=")[2].strip() for line in
                         (timer.read_text(encoding="utf-8").splitlines() if timer.exists() else ())
                         if line.startswith("OnCalendar="))
        files = tuple(path for path in (service, timer) if path.exists())
        if not meta:
            return ScheduledSprint(name=name, sprint_file=Path(), cron="", kind=self.kind, files=files,
                                   on_calendar=calendar,
                                   notes=(f"{service} is missing or was not written by stager",))
        return ScheduledSprint(name=name, sprint_file=Path(meta["sprint_file"]), cron=meta["cron"], kind=self.kind,
                               files=files, command=tuple(meta["command"]), gc_command=tuple(meta["gc_command"]),
                               on_calendar=calendar, log_file=Path(meta["log_file"]),
                               next_run=_next_run(meta["cron"]))

    def _run(self, steps: list[list[str]], *, files: tuple[Path, ...]) -> tuple[bool, str]:
        """Run the systemctl steps; (enabled, note). Raises StagerError when systemd is there but refuses."""
        by_hand = " && ".join(shlex.join(["systemctl", "--user", *step]) for step in steps)
        written = ", ".join(str(path) for path in files)
        for index, step in enumerate(steps):
            reachable, problem = self._systemctl(*step)
            if reachable and not problem:
                continue
            if index == 0 and not reachable and self.custom_dir:
                return False, (f"systemctl --user could not be reached ({problem}), so enabling was skipped; "
                               f"the unit files are written ({written}); to enable them, run: {by_hand}")
            raise StagerError(f"`systemctl --user {shlex.join(step)}` failed: {problem}; the unit files are "
                              f"written ({written}); enable them by hand with: {by_hand}, or set "
                              "STAGER_SCHEDULER=cron to use the crontab")
        return True, ""

    def _systemctl(self, *args: str) -> tuple[bool, str]:
        """(reachable, problem): problem is "" on success, else systemctl's first line of complaint."""
        if not self.systemctl:
            return False, "systemctl is not installed"
        try:
            done = subprocess.run([self.systemctl, "--user", *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return False, str(error)
        if done.returncode == 0:
            return True, ""
        problem = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[0]
        # No user manager to talk to (no systemd, no session bus), as opposed to one that refuses.
        unreachable = any(words in problem.lower() for words in ("failed to connect", "not been booted", "no medium"))
        return not unreachable, problem


class CrontabScheduler:
    """Lines in the user's crontab, read with ``crontab -l`` and written back whole with ``crontab -``."""

    kind = "cron"

    def __init__(self, crontab: str) -> None:
        self.crontab = crontab  # the crontab program

    def install(self, plan: SprintJob) -> ScheduledSprint:
        line = render_crontab_line(plan.name, plan.sprint_file, plan.cron, stager_argv=plan.stager_argv,
                                   workdir=plan.workdir, home=plan.home, gc_target=plan.gc_target)
        kept = [entry for entry in self._lines() if _cron_marker(entry) != plan.name]
        self._write([*kept, line])
        return _read_cron_line(plan.name, line)

    def uninstall(self, name: str) -> ScheduledSprint | None:
        lines = self._lines()
        ours = [entry for entry in lines if _cron_marker(entry) == name]
        if not ours:
            return None
        self._write([entry for entry in lines if _cron_marker(entry) != name])
        return _read_cron_line(name, ours[-1])

    def list(self) -> list[ScheduledSprint]:
        found = {name: line for line in self._lines() if (name := _cron_marker(line))}
        return [_read_cron_line(name, found[name]) for name in sorted(found)]

    def _lines(self) -> list[str]:
        done = self._crontab(["-l"])
        if done.returncode != 0:
            if "no crontab" in done.stderr.lower():
                return []
            raise StagerError(f"`crontab -l` failed: {_first_line(done)}")
        return done.stdout.splitlines()

    def _write(self, lines: list[str]) -> None:
        done = self._crontab(["-"], "\n".join(lines) + "\n")  # cron ignores a last line without its newline
        if done.returncode != 0:
            raise StagerError(f"`crontab -` refused the new crontab: {_first_line(done)}")

    def _crontab(self, args: list[str], text: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.crontab, *args], input=text, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise StagerError(f"could not run `crontab {' '.join(args)}`: {error}") from None


def _cron_marker(line: str) -> str | None:
    """The sprint's name when the line is one stager wrote."""
    head, marker, name = line.rpartition(CRON_MARKER)
    if marker and head and not line.lstrip().startswith("#") and _NAME.fullmatch(name.strip()):
        return name.strip()
    return None


def _read_cron_line(name: str, line: str) -> ScheduledSprint:
    """Read a crontab line back: the five fields, then the commands parsed out of its shell script."""
    fields = line.split(None, 5)
    cron = " ".join(fields[:5])
    commands = _shell_commands(fields[5].replace("\\%", "%") if len(fields) > 5 else "")
    stager = next((c[2:] for c in commands if c[:2] == ["set", "--"]), [])
    runs = [[*stager, *c[1:]] for c in commands if c[0] == "$@"]  # "$@" is the stager program
    command = next((c for c in runs if c[len(stager):len(stager) + 2] == ["sprint", "run"]), [])
    gc_command = next((c for c in runs if c[len(stager):len(stager) + 1] == ["gc"]), [])
    home = next((c[1].partition("=")[2] for c in commands if c[:1] == ["export"] and len(c) > 1), "")
    notes = () if stager and command else ("this crontab line was changed by hand: stager cannot read its command",)
    return ScheduledSprint(name=name, sprint_file=Path(command[-1]) if command else Path(), cron=cron, kind="cron",
                           crontab_line=line, command=tuple(command), gc_command=tuple(gc_command),
                           log_file=Path(home) / "schedule" / f"{name}.log" if home else None,
                           next_run=_next_run(cron), notes=notes)


def _shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a one-line script stager wrote, words unquoted; ; && || split them."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in (";", "&&", "||", "&", "|"):
                commands.append([])
            else:
                commands[-1].append(token)
    except ValueError:
        return []
    return [command for command in commands if command]


def _first_line(done: subprocess.CompletedProcess) -> str:
    text = (done.stderr or done.stdout or "").strip()
    return text.splitlines()[0] if text else f"exit status {done.returncode}"


def _lingering() -> bool:
    return Path("/var/lib/systemd/linger", _user()).exists()


def _user() -> str:
    import getpass

    return getpass.getuser()
