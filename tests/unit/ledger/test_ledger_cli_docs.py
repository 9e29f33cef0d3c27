"""docs/ledger.md's command reference is the commands' own --help; this fails when they drift.

Run this file as a script to rewrite that section: ``python tests/unit/ledger/test_ledger_cli_docs.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from stager.cli.runs import app

DOC = Path(__file__).resolve().parents[3] / "docs" / "ledger.md"
COMMANDS = ("list", "show")


def _help(command: str) -> str:
    # A fixed width and no colour, so the text does not depend on the terminal that runs the tests.
    env = {"COLUMNS": "100", "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
    result = CliRunner(env=env).invoke(app, [command, "--help"], prog_name="stager runs")
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.stdout.strip("\n").splitlines()).strip("\n")


def _block(command: str) -> re.Pattern:
    marker = f"stager runs {command} --help"
    return re.compile(rf"(<!-- BEGIN {marker} -->\n)(.*?)(<!-- END {marker} -->)", re.DOTALL)


def rendered(text: str) -> str:
    for command in COMMANDS:
        text = _block(command).sub(lambda m, c=command: f"{m.group(1)}```text\n{_help(c)}\n```\n{m.group(3)}", text)
    return text


def test_docs_match_help():
    text = DOC.read_text(encoding="utf-8")
    for command in COMMANDS:
        assert _block(command).search(text), f"docs/ledger.md lost its marker for `stager runs {command} --help`"
    assert text == rendered(text), "docs/ledger.md is out of date: run python tests/unit/ledger/test_ledger_cli_docs.py"


if __name__ == "__main__":
    DOC.write_text(rendered(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote the command reference in {DOC}")
