"""Command lines built by stager.remote.quoting, run through a real local bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stager.remote.quoting import command, in_dir, quote, with_env

HOSTILE = [
    "",
    "plain",
    "with space",
    "it's",
    'say "hi"',
    "$(touch canary)",
    "`touch canary`",
    "a; touch canary",
    "a && touch canary || touch canary",
    "$HOME ${HOME} $((1+1))",
    "back\\slash",
    "new\nline",
    "tab\there",
    "-n",
    "--",
    "*",
    "~root",
    "!event",
    "é ✓ 日本",
    "'\"'\"'",
]


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("arg", HOSTILE)
def test_a_quoted_word_reaches_the_program_unchanged_and_runs_nothing(arg, tmp_path):
    result = bash(command("printf", "%s", arg), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == arg
    assert list(tmp_path.iterdir()) == []  # no canary


def test_every_word_of_a_command_is_one_argument(tmp_path):
    result = bash(command("printf", "[%s]\\n", *HOSTILE), tmp_path)
    assert result.stdout == "".join(f"[{arg}]\n" for arg in HOSTILE)
    assert list(tmp_path.iterdir()) == []


def test_paths_and_ints_are_quoted_too(tmp_path):
    assert quote(Path("a b/c")) == "'a b/c'"
    assert quote(42) == "42"
    assert command("kill", "-0", 123) == "kill -0 123"


@pytest.mark.parametrize("bad", [b"bytes", True, None, 1.5])
def test_other_types_are_refused(bad):
    with pytest.raises(TypeError):
        quote(bad)


def test_nul_cannot_be_quoted():
    with pytest.raises(ValueError, match="NUL"):
        quote("a\0b")
    with pytest.raises(ValueError):
        command()


def test_with_env_sets_hostile_values_for_a_compound_command(tmp_path):
    env = {"FIRST": "$(touch canary) it's \"x\"", "SECOND": "a;b\nc", "EMPTY": ""}
    script = with_env(env, 'printf "%s|" "$FIRST" && printf "%s|%s" "$SECOND" "$EMPTY"')
    result = bash(script, tmp_path)
    assert result.stdout == f"{env['FIRST']}|{env['SECOND']}|"
    assert list(tmp_path.iterdir()) == []


def test_with_env_without_variables_is_the_command_itself():
    assert with_env({}, "true") == "true"


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "A=B", "", "$(x)", "É"])
def test_with_env_refuses_names_that_are_not_identifiers(name):
    with pytest.raises(ValueError, match="not a shell identifier"):
        with_env({name: "v"}, "true")


def test_in_dir_enters_a_hostile_directory_and_stops_when_it_cannot(tmp_path):
    hostile = tmp_path / "we ird 'q' \"dq\" $(touch canary) `touch canary` ; x"
    hostile.mkdir()
    result = bash(in_dir(hostile, "pwd"), tmp_path)
    assert result.stdout == f"{hostile}\n"
    result = bash(in_dir(tmp_path / "missing", "touch ran"), tmp_path)
    assert result.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [hostile.name]
    assert list(hostile.iterdir()) == []


def test_in_dir_takes_a_dash_leading_directory_as_a_directory(tmp_path):
    (tmp_path / "-P").mkdir()
    assert bash(in_dir("-P", "pwd"), tmp_path).stdout == f"{tmp_path / '-P'}\n"
