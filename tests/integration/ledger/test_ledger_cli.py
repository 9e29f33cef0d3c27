"""`stager runs list|show` over a ledger file: tables, filters, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from stager.cli.runs import app
from stager.errors import StagerError
from stager.ledger import Ledger

SHA = "9f" * 32


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger_file(tmp_path):
    """Three runs: an old succeeded cifar run, a failed mnist run in a sprint, a running mnist run."""
    path = tmp_path / "ledger.sqlite"
    clock = _Clock()
    common = {"pipeline_file": "pipelines/x.yaml", "versions": {"stager": "0.1.0", "torch": "2.13.0"},
              "git": {"commit": "abc1234", "dirty": False}}
    with Ledger.open(path, clock=clock) as ledger:
        ledger.create_run(pipeline="cifar", target="linode", spec={"name": "cifar", "linode": {"token": "[REDACTED]"}},
                          run_id="r-old-cifar", **common)
        ledger.cost("r-old-cifar", estimated_usd=3.0)
        for state in ("validating", "provisioning"):
            ledger.transition("r-old-cifar", state)
        ledger.resource_created("r-old-cifar", kind="instance", provider_id=41, label="stager-cifar-0",
                                plan="g1-gpu-rtx6000-1", region="us-east", hourly_usd=1.5)
        ledger.dataset("r-old-cifar", name="cifar10", digest=SHA, ok=True)
        ledger.image("r-old-cifar", image_id="private/5", recipe_hash="ab" * 32)
        ledger.transition("r-old-cifar", "training")
        clock.now += timedelta(minutes=95)
        ledger.event("r-old-cifar", "train.epoch", {"epoch": 9, "val_loss": 0.31})
        ledger.artifact("r-old-cifar", path="checkpoints/best.ckpt", location="runs/r-old-cifar/checkpoints/best.ckpt",
                        size=2048, sha256=SHA)
        ledger.transition("r-old-cifar", "tearing_down")
        ledger.resource_deleted("r-old-cifar", kind="instance", provider_id=41)
        ledger.transition("r-old-cifar", "succeeded")

        clock.now = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
        ledger.create_run(pipeline="mnist", target="local", spec={"name": "mnist"}, run_id="r-new-failed",
                          sprint_id="s-1", **common)
        ledger.transition("r-new-failed", "failed", reason="bad data: 3 NaN values")
        clock.now += timedelta(hours=1)
        ledger.create_run(pipeline="mnist", target="local", spec={"name": "mnist"}, run_id="r-new-running",
                          sprint_id="s-1", **common)
        ledger.transition("r-new-running", "training")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the command group as `stager` would: a StagerError becomes its exit code and one line."""
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, StagerError):
        return result.exception.exit_code, result.stdout, f"error: {result.exception}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_a_table_newest_first(ledger_file):
    code, out, _ = invoke("list", "--ledger", str(ledger_file))
    assert code == 0
    for heading in ("id", "pipeline", "target", "state", "created", "duration", "estimated", "actual"):
        assert heading in out
    assert out.index("r-new-running") < out.index("r-new-failed") < out.index("r-old-cifar")
    old = next(line for line in out.splitlines() if "r-old-cifar" in line)
    assert "succeeded" in old and "1h 35m" in old and "$3.00" in old and "linode" in old
    assert "(so far)" in next(line for line in out.splitlines() if "r-new-running" in line)


def test_list_stops_at_its_limit_and_says_how_many_more(ledger_file):
    code, out, _ = invoke("list", "--ledger", str(ledger_file), "--limit", "2")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["r-new-running", "r-new-failed"]
    assert lines[-1] == "... and 1 older run(s): --limit 0 lists them all"
    assert "r-old-cifar" in invoke("list", "--ledger", str(ledger_file), "--limit", "0")[1]
    (only,) = json.loads(invoke("list", "--ledger", str(ledger_file), "--json", "-n", "1")[1])
    assert only["id"] == "r-new-running"


@pytest.mark.parametrize(("args", "expected"), [
    (("--status", "failed"), ["r-new-failed"]),
    (("--status", "succeeded"), ["r-old-cifar"]),
    (("--pipeline", "mnist"), ["r-new-running", "r-new-failed"]),
    (("--since", "2026-01-05"), ["r-new-running", "r-new-failed"]),
    (("--since", "2026-01-10T12:30:00+00:00"), ["r-new-running"]),
    (("--sprint", "s-1", "--status", "training"), ["r-new-running"]),
    (("--pipeline", "nothing"), []),
])
def test_list_filters_as_json(ledger_file, args, expected):
    code, out, _ = invoke("list", "--ledger", str(ledger_file), "--json", *args)
    assert code == 0
    runs = json.loads(out)
    assert [r["id"] for r in runs] == expected
    for run in runs:
        assert {"pipeline", "target", "state", "created", "finished", "duration_s", "estimated_usd",
                "actual_usd"} <= run.keys()


def test_list_json_costs_and_duration(ledger_file):
    (old,) = json.loads(invoke("list", "--ledger", str(ledger_file), "--json", "--pipeline", "cifar")[1])
    assert old["estimated_usd"] == 3.0 and old["actual_usd"] == 3.0  # 95 minutes bill 2 hours at $1.50
    assert old["duration_s"] == 95 * 60 and old["finished"].startswith("2026-01-01T13:35")


def test_show_is_readable(ledger_file):
    code, out, _ = invoke("show", "r-old", "--ledger", str(ledger_file))  # a unique prefix
    assert code == 0
    for text in ("r-old-cifar", "cifar (pipelines/x.yaml)", "succeeded", "abc1234", "torch 2.13.0",
                 "chain     intact", "stager-cifar-0", "g1-gpu-rtx6000-1", "cifar10", "private/5",
                 "checkpoints/best.ckpt", "train.epoch", "val_loss", "[REDACTED]", "$3.00"):
        assert text in out, text
    for section in ("states", "resources", "datasets", "images", "artifacts", "costs", "events", "spec"):
        assert f"\n{section}" in out, section


def test_show_json_has_everything(ledger_file):
    code, out, _ = invoke("show", "r-new-failed", "--ledger", str(ledger_file), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["id"] == "r-new-failed" and data["state"] == "failed" and data["sprint_id"] == "s-1"
    assert data["transitions"][-1] == {"state": "failed", "time": "2026-01-10T12:00:00+00:00",
                                       "reason": "bad data: 3 NaN values"}
    assert data["chain_problems"] == [] and len(data["head_hash"]) == 64
    assert data["git"] == {"commit": "abc1234", "dirty": False}

    code, out, _ = invoke("show", "r-old-cifar", "--ledger", str(ledger_file), "--json")
    data = json.loads(out)
    assert data["resources"][0]["billed_hours"] == 2 and data["billed_usd"] == 3.0
    assert data["artifacts"][0]["sha256"] == SHA


@pytest.mark.parametrize(("args", "message"), [
    (("show", "r-nope"), "no run r-nope"),
    (("show", "r-new"), "matches several runs"),
    (("list", "--since", "last tuesday"), "bad date 'last tuesday'"),
    (("list", "--status", "done"), "unknown state 'done'"),
])
def test_bad_input_is_one_line_and_exit_2(ledger_file, args, message):
    code, out, err = invoke(*args, "--ledger", str(ledger_file))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_without_a_ledger_nothing_is_created(tmp_path):
    missing = tmp_path / "none" / "ledger.sqlite"
    code, out, _ = invoke("list", "--ledger", str(missing))
    assert code == 0 and "no runs yet" in out
    assert invoke("list", "--ledger", str(missing), "--json")[1].strip() == "[]"
    code, _, err = invoke("show", "r-1", "--ledger", str(missing))
    assert code == 2 and "no ledger" in err
    assert not missing.exists() and not missing.parent.exists()


def _stager(*args: str, home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stager", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "STAGER_HOME": str(home)})


def test_through_the_stager_command(ledger_file):
    home = ledger_file.parent
    if _stager("runs", "--help", home=home).returncode != 0:
        pytest.skip("`stager runs` is not registered in the root command yet")
    done = _stager("runs", "show", "r-missing", home=home)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "no run r-missing" in done.stderr
    listed = _stager("runs", "list", "--json", home=home)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 3
