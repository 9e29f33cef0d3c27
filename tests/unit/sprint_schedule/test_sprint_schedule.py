"""Scheduling a sprint: the rendered systemd units and crontab line, their quoting, and install/uninstall/list.

Nothing here touches the machine's real scheduler. systemctl and crontab are
stand-in scripts put first on PATH: CI machines run no systemd user manager and
no cron daemon, and the real programs would change the developer's own timers
and crontab. The rendered commands themselves are run for real with /bin/sh,
with a stand-in stager, to prove that what a scheduler would start does what it
says, whatever the paths hold.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stager.errors import StagerError, UsageError
from stager.sprint import schedule
from stager.sprint.cron import parse_cron
from stager.sprint.schedule import (
    CrontabScheduler,
    SystemdScheduler,
    choose_scheduler,
    install,
    list_scheduled,
    render_crontab_line,
    render_systemd,
    uninstall,
)

# Spaces, both quotes, command substitution (both kinds), a variable, a systemd specifier (%h), a bare %,
# a backslash and shell operators: each one breaks a differently quoted command line. Short, because
# the crontab line holds it four times and some crons cut a command at 1000 characters.
HOSTILE = "a \"b\" 'c' $(touch pwned)`touch pwned`$HOME%h% \\;|&"

FAKE_STAGER = """#!{python}
# Stands in for stager: records how it was called, says so on stdout, exits as FAKE_EXIT_<command> says.
import json, os, sys
with open(os.path.join(os.environ["STAGER_HOME"], "calls.jsonl"), "a") as calls:
    calls.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
print("stand-in stager ran", sys.argv[1:])
sys.exit(int(os.environ.get("FAKE_EXIT_" + sys.argv[1], "0")))
"""


def program(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def place(tmp_path):
    """A working directory, STAGER_HOME, sprint file and stager program, all under a hostile directory name."""
    root = workdir = tmp_path / HOSTILE
    home = root / "h"
    home.mkdir(parents=True)
    sprint = workdir / "n s.yaml"
    sprint.write_text("name: night\n")
    stager = program(root / "stager", FAKE_STAGER.format(python=sys.executable))
    return {"root": root, "workdir": workdir, "home": home, "sprint": sprint, "stager": stager}


def render_kwargs(place) -> dict:
    return {"stager_argv": [str(place["stager"])], "workdir": place["workdir"], "home": place["home"]}


# -- reading systemd's formats back ----------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections as (key, value) lists: keys repeat (OnCalendar=), so configparser would lose some."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), "a line continuation stager did not mean"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    return [value for k, value in unit[section] if k == key]


def without_specifiers(text: str) -> str:
    """systemd.unit(5) specifiers: stager writes only %% (a literal %); any other would be expanded."""
    out, index = [], 0
    while index < len(text):
        if text[index] == "%":
            assert text[index + 1] == "%", f"an unescaped specifier in {text!r}"
            index += 1
        out.append(text[index])
        index += 1
    return "".join(out)


_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "s": " "}


def systemd_words(value: str, *, dollars: bool = True) -> list[str]:
    """A command line as systemd.service(5) reads it: specifiers, words with quotes and C escapes, then $$ -> $."""
    text = without_specifiers(value)
    words, index = [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        quote = text[index] if text[index] in "\"'" else None
        index += 1 if quote else 0
        word = []
        while index < len(text) and (text[index] != quote if quote else not text[index].isspace()):
            if text[index] == "\\":
                word.append(_ESCAPES[text[index + 1]])
                index += 2
            else:
                word.append(text[index])
                index += 1
        if quote:
            assert index < len(text), "an unterminated quote"
            index += 1
            assert index == len(text) or text[index].isspace(), "a closing quote not followed by a space"
        words.append("".join(word))
    if dollars:
        for word in words:
            assert not re.search(r"(?<!\$)\$(\$\$)*[A-Za-z_{]", word), f"systemd would expand a variable in {word!r}"
        words = [word.replace("$$", "$") for word in words]
    return words


def shell_commands(script: str) -> list[list[str]]:
    """The script's simple commands, words unquoted; "$@" replaced by what `set --` gave it."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||"):
            commands.append([])
        else:
            commands[-1].append(token)
    arguments: list[str] = []
    expanded = []
    for command in filter(None, commands):
        if command[:2] == ["set", "--"]:
            arguments = command[2:]
        expanded.append([*arguments, *command[1:]] if command[0] == "$@" else command)
    return expanded


def calls(home: Path) -> list[dict]:
    path = home / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_ran_sprint_then_gc(place, *, gc_args=()):
    made = calls(place["home"])
    assert [call["argv"] for call in made] == [["sprint", "run", str(place["sprint"])], ["gc", *gc_args]]
    assert {call["cwd"] for call in made} == {str(place["workdir"])}
    log = place["home"] / "schedule" / "night.log"
    assert "stand-in stager ran ['sprint', 'run'" in log.read_text()
    assert "stand-in stager ran ['gc'" in log.read_text()
    assert not list(place["root"].parent.rglob("pwned*")), "a path was executed as a command"


# -- the systemd units -----------------------------------------------------------------------------------------


def test_the_units_run_the_sprint_then_gc_at_the_crons_times(place):
    cron = parse_cron("0 0 1,15 * mon")
    units = render_systemd("night", place["sprint"], cron, gc_target="linode", **render_kwargs(place))
    assert set(units) == {"stager-sprint-night.service", "stager-sprint-night.timer"}
    timer = parse_unit(units["stager-sprint-night.timer"])
    service = parse_unit(units["stager-sprint-night.service"])

    assert values(timer, "Timer", "OnCalendar") == cron.on_calendar() == ["Mon *-*-* 00:00:00", "*-*-01,15 00:00:00"]
    assert values(timer, "Timer", "Persistent") == ["true"]
    assert values(timer, "Install", "WantedBy") == ["timers.target"]

    assert values(service, "Service", "Type") == ["oneshot"]
    assert [without_specifiers(v) for v in values(service, "Service", "WorkingDirectory")] == [str(place["workdir"])]
    environment = [systemd_words(v, dollars=False) for v in values(service, "Service", "Environment")]
    assert environment == [[f"STAGER_HOME={place['home']}"]]
    assert values(service, "Service", "EnvironmentFile") == ["-%h/.config/stager/env"]

    (exec_start,) = values(service, "Service", "ExecStart")
    argv = systemd_words(exec_start)
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3
    commands = shell_commands(argv[2])
    assert [str(place["stager"]), "sprint", "run", str(place["sprint"])] in commands
    assert [str(place["stager"]), "gc", "--target", "linode"] in commands
    assert '"$STAGER_HOME/schedule/night.log"' in argv[2]


def test_what_systemd_would_start_runs_the_sprint_then_gc_and_executes_nothing_from_a_path(place):
    units = render_systemd("night", place["sprint"], parse_cron("@daily"), **render_kwargs(place))
    service = parse_unit(units["stager-sprint-night.service"])
    argv = systemd_words(values(service, "Service", "ExecStart")[0])
    workdir = without_specifiers(values(service, "Service", "WorkingDirectory")[0])
    (assignment,) = systemd_words(values(service, "Service", "Environment")[0], dollars=False)
    name, _, home = assignment.partition("=")

    done = subprocess.run(argv, cwd=workdir, env={name: home, "PATH": os.defpath}, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert_ran_sprint_then_gc(place)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_itself_accepts_the_units(place, tmp_path):
    units = render_systemd("night", place["sprint"], parse_cron("0 0 1,15 * mon"), **render_kwargs(place))
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for name, text in units.items():
        (unit_dir / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in unit_dir.iterdir())],
                          capture_output=True, text=True)
    if "Failed to initialize manager" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "bad" not in done.stderr.lower() and "ignoring" not in done.stderr.lower(), done.stderr


def test_no_secret_reaches_the_units_or_the_crontab(place, monkeypatch):
    monkeypatch.setenv("LINODE_TOKEN", "linode-secret-1234567890")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-0987654321")
    cron = parse_cron("0 22 * * 1-5")
    texts = [*render_systemd("night", place["sprint"], cron, **render_kwargs(place)).values(),
             render_crontab_line("night", place["sprint"], cron, **render_kwargs(place))]
    for text in texts:
        assert "linode-secret" not in text and "aws-secret" not in text
        assert "LINODE_TOKEN=" not in text


# -- the crontab line ------------------------------------------------------------------------------------------


def test_the_crontab_line_holds_the_crons_fields_the_commands_and_a_marker(place):
    cron = parse_cron("0 22 * * 1-5")
    line = render_crontab_line("night", place["sprint"], cron, gc_target="linode", **render_kwargs(place))
    assert "\n" not in line
    assert line.split()[:5] == ["0", "22", "*", "*", "1-5"]
    assert line.endswith(" # stager-sprint:night")
    assert not re.search(r"(?<!\\)%", line), "cron turns a bare % into a newline"
    commands = shell_commands(cron_command(line))
    assert [str(place["stager"]), "sprint", "run", str(place["sprint"])] in commands
    assert [str(place["stager"]), "gc", "--target", "linode"] in commands
    assert ["cd", str(place["workdir"])] in commands
    assert ["export", f"STAGER_HOME={place['home']}"] in commands


def test_a_macro_is_written_out_in_the_crontab():
    cron = parse_cron("@weekly")
    line = render_crontab_line("w", Path("/s.yaml"), cron, stager_argv=["/bin/stager"], workdir=Path("/"),
                               home=Path("/h"))
    assert line.startswith("0 0 * * 0 ")


def cron_command(line: str) -> str:
    """The command cron hands to the shell (cron's do_command.c): \\% is a %, a bare % ends the command."""
    command, escaped = [], False
    for char in line.split(None, 5)[5]:
        if escaped and char == "%":
            command[-1] = "%"
        elif char == "%":
            break  # the rest would be the command's standard input
        else:
            command.append(char)
        escaped = char == "\\" and not escaped
    return "".join(command)


def cron_runs(line: str, tmp_path: Path, **extra_env) -> subprocess.CompletedProcess:
    """Run a crontab line as cron does: its command through /bin/sh -c, HOME set, a minimal PATH."""
    command = cron_command(line)
    user_home = tmp_path / "user-home"
    user_home.mkdir(exist_ok=True)
    env = {"HOME": str(user_home), "PATH": os.defpath, "SHELL": "/bin/sh", **extra_env}
    return subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_what_cron_would_start_runs_the_sprint_then_gc_and_executes_nothing_from_a_path(place, tmp_path):
    line = render_crontab_line("night", place["sprint"], parse_cron("@daily"), **render_kwargs(place))
    done = cron_runs(line, tmp_path)
    assert done.returncode == 0, done.stderr
    assert_ran_sprint_then_gc(place)


def test_gc_runs_after_a_failed_sprint_and_the_sprints_status_wins(place, tmp_path):
    line = render_crontab_line("night", place["sprint"], parse_cron("@daily"), **render_kwargs(place))
    assert cron_runs(line, tmp_path, FAKE_EXIT_sprint="3", FAKE_EXIT_gc="4").returncode == 3
    assert [call["argv"][0] for call in calls(place["home"])] == ["sprint", "gc"]
    assert cron_runs(line, tmp_path, FAKE_EXIT_gc="4").returncode == 4


def test_cron_reads_the_users_env_file(place, tmp_path):
    env_file = tmp_path / "user-home" / ".config" / "stager" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("FAKE_EXIT_sprint=5\n")
    line = render_crontab_line("night", place["sprint"], parse_cron("@daily"), **render_kwargs(place))
    assert cron_runs(line, tmp_path).returncode == 5


@pytest.mark.parametrize("bad", ["/tmp/new\nline", "/tmp/a\\%b"])
def test_paths_cron_cannot_carry_are_refused(bad):
    with pytest.raises(UsageError):
        render_crontab_line("n", Path(bad), parse_cron("@daily"), stager_argv=["/bin/stager"], workdir=Path("/"),
                            home=Path("/h"))


def test_a_crontab_line_longer_than_cron_reads_is_refused():
    long = Path("/" + "d" * 400)
    with pytest.raises(UsageError, match="more than cron accepts"):
        render_crontab_line("n", long / "s.yaml", parse_cron("@daily"), stager_argv=[str(long / "stager")],
                            workdir=long, home=long)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Night"}, "sprint name 'Night'"),
    ({"name": "x" * 41}, "1-40 characters"),
    ({"workdir": Path("relative")}, "must be an absolute path"),
    ({"workdir": Path("/tmp/ends in space ")}, "ends in a space"),
    ({"home": Path("/tmp/new\nline")}, "control character"),
    ({"stager_argv": []}, "stager_argv is empty"),
])
def test_render_refuses_what_a_unit_cannot_hold(kwargs, message):
    arguments = {"name": "n", "sprint_file": Path("/s.yaml"), "cron": parse_cron("@daily"),
                 "stager_argv": ["/bin/stager"], "workdir": Path("/"), "home": Path("/h"), **kwargs}
    with pytest.raises(UsageError, match=message):
        render_systemd(**arguments)


# -- install, list, uninstall ----------------------------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A directory first on PATH for the stand-in systemctl and crontab."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    return bin_dir


def fake_systemctl(bin_dir: Path, *, reachable: bool) -> Path:
    """systemctl that records its arguments; unreachable, it answers as systemctl does without a user manager."""
    log = bin_dir / "systemctl.log"
    body = (f'echo "$*" >> {shlex.quote(str(log))}\n' if reachable
            else 'echo "Failed to connect to bus: No medium found" >&2\nexit 1\n')
    program(bin_dir / "systemctl", "#!/bin/sh\n" + body)
    return log


def fake_crontab(bin_dir: Path, table: Path) -> None:
    """crontab -l / crontab - over a file: no cron daemon runs on CI machines, and the real one is the user's."""
    quoted = shlex.quote(str(table))
    program(bin_dir / "crontab", f"""#!/bin/sh
case "$1" in
  -l) [ -f {quoted} ] || {{ echo "no crontab for $(id -un)" >&2; exit 1; }}; cat {quoted} ;;
  -) cat > {quoted} ;;
  *) echo "usage: crontab -l | crontab -" >&2; exit 2 ;;
esac
""")


@pytest.fixture
def systemd_dir(tmp_path, monkeypatch):
    unit_dir = tmp_path / "units"
    monkeypatch.setenv("STAGER_SCHEDULER", "systemd")
    monkeypatch.setenv("STAGER_SYSTEMD_DIR", str(unit_dir))
    return unit_dir


def test_systemd_round_trip_without_a_reachable_systemd(place, fake_bin, systemd_dir):
    fake_systemctl(fake_bin, reachable=False)
    installed = install("night", place["sprint"], "0 22 * * 1-5", **render_kwargs(place))

    assert installed.kind == "systemd" and installed.name == "night" and installed.cron == "0 22 * * 1-5"
    assert not installed.enabled
    (note,) = installed.notes
    assert "enabling was skipped" in note
    assert "systemctl --user enable --now stager-sprint-night.timer" in note
    assert installed.files == (systemd_dir / "stager-sprint-night.service", systemd_dir / "stager-sprint-night.timer")
    assert all(path.exists() for path in installed.files)
    assert installed.sprint_file == place["sprint"]
    assert installed.command == (str(place["stager"]), "sprint", "run", str(place["sprint"]))
    assert installed.gc_command == (str(place["stager"]), "gc")
    assert installed.log_file == place["home"] / "schedule" / "night.log"
    assert (place["home"] / "schedule").is_dir()

    (listed,) = list_scheduled()
    assert (listed.name, listed.cron, listed.sprint_file) == ("night", "0 22 * * 1-5", place["sprint"])
    assert listed.on_calendar == ("Mon..Fri *-*-* 22:00:00",)
    now = datetime.now(timezone.utc)
    assert listed.next_run is not None and listed.next_run > now and listed.next_run.utcoffset() == timedelta(0)
    local = listed.next_run.astimezone(schedule._local_zone())
    assert local == parse_cron("0 22 * * 1-5").next_after(now.astimezone(local.tzinfo))

    install("night", place["sprint"], "@daily", **render_kwargs(place))  # replaces, does not add
    assert [(s.name, s.cron) for s in list_scheduled()] == [("night", "@daily")]

    removed = uninstall("night")
    assert removed.name == "night"
    assert not list(systemd_dir.iterdir())
    assert list_scheduled() == []
    with pytest.raises(UsageError, match="no sprint named 'night' is scheduled"):
        uninstall("night")


def test_systemd_is_told_to_enable_restart_and_disable(place, fake_bin, systemd_dir):
    log = fake_systemctl(fake_bin, reachable=True)
    installed = install("night", place["sprint"], "@daily", **render_kwargs(place))
    timer = systemd_dir / "stager-sprint-night.timer"
    assert installed.enabled
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        f"--user link {systemd_dir / 'stager-sprint-night.service'} {timer}",
        "--user enable --now stager-sprint-night.timer",
    ]
    log.unlink()
    install("night", place["sprint"], "@hourly", **render_kwargs(place))
    assert log.read_text().splitlines()[-1] == "--user restart stager-sprint-night.timer"
    log.unlink()
    uninstall("night")
    assert log.read_text().splitlines() == ["--user daemon-reload", "--user disable --now stager-sprint-night.timer",
                                            "--user daemon-reload"]


def test_an_unreachable_systemd_in_the_users_own_unit_dir_is_an_error(place, fake_bin, tmp_path, monkeypatch):
    fake_systemctl(fake_bin, reachable=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("STAGER_SCHEDULER", "systemd")
    monkeypatch.delenv("STAGER_SYSTEMD_DIR", raising=False)
    with pytest.raises(StagerError, match="enable them by hand with: systemctl --user daemon-reload"):
        install("night", place["sprint"], "@daily", **render_kwargs(place))
    assert (tmp_path / "user-home" / ".config/systemd/user/stager-sprint-night.timer").exists()


def test_crontab_round_trip_keeps_the_users_own_lines(place, fake_bin, tmp_path, monkeypatch):
    table = tmp_path / "crontab.txt"
    fake_crontab(fake_bin, table)
    monkeypatch.setenv("STAGER_SCHEDULER", "cron")
    assert list_scheduled() == []  # "no crontab for ..." is an empty crontab

    table.write_text("MAILTO=me@localhost\n0 1 * * * /usr/local/bin/backup\n")
    installed = install("night", place["sprint"], "0 22 * * 1-5", gc_target="linode", **render_kwargs(place))
    assert installed.kind == "cron" and installed.crontab_line.endswith("# stager-sprint:night")
    assert table.read_text().splitlines() == ["MAILTO=me@localhost", "0 1 * * * /usr/local/bin/backup",
                                              installed.crontab_line]

    (listed,) = list_scheduled()
    assert (listed.name, listed.cron, listed.sprint_file) == ("night", "0 22 * * 1-5", place["sprint"])
    assert listed.command == (str(place["stager"]), "sprint", "run", str(place["sprint"]))
    assert listed.gc_command == (str(place["stager"]), "gc", "--target", "linode")
    assert listed.log_file == place["home"] / "schedule" / "night.log"
    assert listed.next_run is not None and listed.next_run.tzinfo is timezone.utc

    install("night", place["sprint"], "30 6 * * *", **render_kwargs(place))
    install("other", place["sprint"], "@weekly", **render_kwargs(place))
    assert [(s.name, s.cron) for s in list_scheduled()] == [("night", "30 6 * * *"), ("other", "0 0 * * 0")]

    uninstall("night")
    assert [s.name for s in list_scheduled()] == ["other"]
    assert table.read_text().splitlines()[:2] == ["MAILTO=me@localhost", "0 1 * * * /usr/local/bin/backup"]
    with pytest.raises(UsageError, match="no sprint named 'night'"):
        uninstall("night")


def test_install_refuses_bad_input(place):
    scheduler = CrontabScheduler("/nonexistent/crontab")  # never reached
    kwargs = {**render_kwargs(place), "scheduler": scheduler}
    with pytest.raises(UsageError, match="hour field `25`: must be 0-23"):
        install("night", place["sprint"], "0 25 * * *", **kwargs)
    with pytest.raises(UsageError, match="never fires"):
        install("night", place["sprint"], "0 0 31 2 *", **kwargs)
    with pytest.raises(UsageError, match="does not exist"):
        install("night", place["workdir"] / "missing.yaml", "@daily", **kwargs)
    with pytest.raises(UsageError, match="sprint name"):
        install("Night Sprint", place["sprint"], "@daily", **kwargs)
    with pytest.raises(UsageError, match="sprint name"):
        uninstall("../etc", scheduler=scheduler)


# -- choosing the scheduler ------------------------------------------------------------------------------------


def test_systemd_is_chosen_where_it_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "SYSTEMD_RUNNING", tmp_path)
    chosen = choose_scheduler({"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert isinstance(chosen, SystemdScheduler) and not chosen.custom_dir


def test_cron_is_chosen_without_systemd(tmp_path, monkeypatch, fake_bin):
    monkeypatch.setattr(schedule, "SYSTEMD_RUNNING", tmp_path / "absent")
    fake_crontab(fake_bin, tmp_path / "table")
    assert isinstance(choose_scheduler({"PATH": str(fake_bin)}), CrontabScheduler)


def test_neither_is_a_usage_error_that_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "SYSTEMD_RUNNING", tmp_path / "absent")
    with pytest.raises(UsageError, match="neither systemd nor cron .* `stager sprint run FILE; stager gc`"):
        choose_scheduler({"PATH": str(tmp_path)})
    with pytest.raises(UsageError, match="no `crontab` program"):
        choose_scheduler({"PATH": str(tmp_path), "STAGER_SCHEDULER": "cron"})
    with pytest.raises(UsageError, match="use systemd or cron"):
        choose_scheduler({"STAGER_SCHEDULER": "launchd"})


def test_stager_systemd_dir_forces_the_unit_directory(tmp_path):
    chosen = choose_scheduler({"STAGER_SCHEDULER": "systemd", "STAGER_SYSTEMD_DIR": str(tmp_path), "PATH": ""})
    assert isinstance(chosen, SystemdScheduler) and chosen.unit_dir == tmp_path and chosen.custom_dir
