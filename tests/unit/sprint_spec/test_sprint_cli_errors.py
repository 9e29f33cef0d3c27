"""`stager sprint` on bad input: one line naming the file, field and fix, exit code 2, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def _stager(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGER_", "LINODE_", "AWS_"))}
    env["STAGER_HOME"] = str(tmp_path / "home")
    return subprocess.run([sys.executable, "-m", "stager", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def _sprint_file(tmp_path: Path, **sprint) -> Path:
    doc = yaml.safe_load((REPO / "pipelines" / "sprint.yaml").read_text())
    doc["sprint"].update(sprint)
    path = tmp_path / "sprint.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_a_run_outside_its_window_is_refused_before_anything_is_opened(tmp_path):
    now = datetime.now(timezone.utc)
    window = {key: (now + timedelta(hours=hours)).strftime("%H:%M") for key, hours in (("start", 2), ("end", 3))}
    done = _stager(tmp_path, "sprint", "run", str(_sprint_file(tmp_path, window=window)))
    _one_line_error(done, "sprint.window", "outside the window", "--ignore-window")
    assert not (tmp_path / "home" / "emulator").exists()  # no emulator started, nothing rented


def test_a_bad_sprint_field_is_one_line_with_its_line_number(tmp_path):
    done = _stager(tmp_path, "sprint", "plan", str(_sprint_file(tmp_path, deadline="tomorrow")))
    _one_line_error(done, "sprint.yaml:", "`sprint.deadline`", "e.g. deadline: 8h")


def test_stager_run_names_the_sprint_commands_for_a_sprint_file(tmp_path):
    done = _stager(tmp_path, "run", str(REPO / "pipelines" / "sprint.yaml"), "--dry-run")
    _one_line_error(done, "this file is a sprint", "stager sprint run")


def test_status_without_any_sprint_says_how_to_start_one(tmp_path):
    _one_line_error(_stager(tmp_path, "sprint", "status"), "no sprint has run here")
