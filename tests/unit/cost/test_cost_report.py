"""`stager cost report` on a real ledger file: each grouping summed by hand, a sprint's money counted once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from stager.audit.costs import cost_report
from stager.cli.cost import app
from stager.errors import UsageError
from stager.image.records import BuildRecord
from stager.ledger import Ledger

GPU, CPU = "g1-gpu-rtx6000-1", "g6-standard-2"
GPU_HOURLY, CPU_HOURLY = 1.5, 0.036
SPRINT = "s20261121-090000-abcd"
NOW = datetime(2026, 11, 21, 14, 30, tzinfo=timezone.utc)


class Clock:
    """The ledger's clock, set by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: int, hour: int, minute: int = 0) -> None:
        self.now = datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def _run(ledger: Ledger, run_id: str, pipeline: str, *, estimate: float | None, sprint_id: str | None = None) -> None:
    ledger.create_run(pipeline=pipeline, pipeline_file=f"{pipeline}.yaml", target="linode", spec={},
                      versions={"stager": "test"}, git=None, run_id=run_id, sprint_id=sprint_id)
    if estimate is not None:
        ledger.cost(run_id, estimated_usd=estimate)


def _instance(ledger: Ledger, run_id: str, provider_id: int, plan: str) -> None:
    hourly = GPU_HOURLY if plan == GPU else CPU_HOURLY
    ledger.resource_created(run_id, kind="instance", provider_id=provider_id, label=f"i{provider_id}", plan=plan,
                            region="us-east", hourly_usd=hourly, monthly_usd=1000.0)


@pytest.fixture
def ledger_path(tmp_path):
    """Two days, two plans: three single runs (one still live), a sprint with two experiments, one image build."""
    path = tmp_path / "ledger.sqlite"
    clock = Clock()
    with Ledger.open(path, clock=clock) as ledger:
        # day 1: r1 on a GPU for 90 minutes (2 hours: $3.00), r2 on a CPU for 30 minutes (1 hour: $0.036)
        _run(ledger, "r1", "mnist", estimate=1.0)
        _instance(ledger, "r1", 101, GPU)
        ledger.resource_created("r1", kind="firewall", provider_id=201, label="fw")  # free: no dollars, no hours
        clock.at(20, 10, 5)
        _run(ledger, "r2", "mnist", estimate=0.5)
        _instance(ledger, "r2", 102, CPU)
        clock.at(20, 10, 35)
        ledger.resource_deleted("r2", kind="instance", provider_id=102)
        clock.at(20, 11, 30)
        ledger.resource_deleted("r1", kind="instance", provider_id=101)
        ledger.resource_deleted("r1", kind="firewall", provider_id=201)
        ledger.cost("r1", actual_usd=3.0)

        # day 2: a sprint holds a GPU 130 minutes (3 hours: $4.50) and a CPU 20 minutes (1 hour: $0.036)
        clock.at(21, 9)
        _run(ledger, SPRINT, "sweep", estimate=4.0)
        _instance(ledger, SPRINT, 103, GPU)
        _instance(ledger, SPRINT, 104, CPU)
        # its experiments have their own pipeline and estimates, which the sprint's estimate already covers
        _run(ledger, "e1", "mnist", estimate=2.0, sprint_id=SPRINT)
        _run(ledger, "e2", "mnist", estimate=2.0, sprint_id=SPRINT)
        clock.at(21, 9, 20)
        ledger.resource_deleted(SPRINT, kind="instance", provider_id=104)
        clock.at(21, 11, 10)
        ledger.resource_deleted(SPRINT, kind="instance", provider_id=103)
        # their actuals are shares of the sprint's $4.536: adding them again would double it
        ledger.cost("e1", actual_usd=3.0)
        ledger.cost("e2", actual_usd=1.536)

        # r3 started at noon and still runs at NOW (14:30): 3 hours so far, $4.50
        clock.at(21, 12)
        _run(ledger, "r3", "mnist", estimate=1.0)
        _instance(ledger, "r3", 105, GPU)

        # an image build on day 2 before the sprint: one CPU builder hour, estimated $0.07
        ledger.adopt_builds([BuildRecord(build_id="b1", recipe="cpu.yaml", recipe_name="cpu", recipe_hash="ab" * 32,
                                         target="linode", status="succeeded", image_id="private/1",
                                         builder_plan=CPU, started="2026-11-21T08:00:00+00:00", billed_hours=1,
                                         estimated_usd=0.07)])
    return path


def _report(path, by: str, since: datetime | None = None):
    with Ledger.open(path) as ledger:
        return cost_report(ledger, by=by, since=since, now=NOW)


def _rows(report) -> dict[str, tuple]:
    return {row.group: (row.runs, row.sprints, row.builds, row.instance_hours, row.live_instances, row.billed_usd,
                        row.estimated_usd, row.difference_usd) for row in (*report.rows, report.total)}


# the whole ledger: runs r1 r2 r3 e1 e2; GPU hours 2+3+3, CPU 1+1, builder 1; billed 3 + 0.036 + 4.536 + 4.5;
# estimated 1 + 0.5 + 4 + 1 + 0.07 (not e1's and e2's); difference per bill, the build left out
TOTAL = (5, 1, 1, 11, 1, 12.072, 6.57, 2.0 - 0.464 + 0.536 + 3.5)


def test_by_day(ledger_path):
    report = _report(ledger_path, "day")
    assert [row.group for row in report.rows] == ["2026-11-20", "2026-11-21"]
    rows = _rows(report)
    assert rows["2026-11-20"] == (2, 0, 0, 3, 0, 3.036, 1.5, 1.536)
    assert rows["2026-11-21"] == (3, 1, 1, 8, 1, 9.036, 5.07, 4.036)
    assert rows["total"] == pytest.approx(TOTAL)


def test_a_sprints_money_is_counted_once(ledger_path):
    report = _report(ledger_path, "sprint")
    rows = _rows(report)
    assert [row.group for row in report.rows] == [SPRINT, "(no sprint)", "image builds"]
    assert rows[SPRINT] == (2, 1, 0, 4, 0, 4.536, 4.0, 0.536)
    assert rows["(no sprint)"] == (3, 0, 0, 6, 1, 7.536, 2.5, 5.036)
    assert rows["image builds"] == (0, 0, 1, 1, 0, None, 0.07, None)
    assert report.total.billed_usd == 12.072  # not 12.072 + 4.536, the experiments' shares
    assert report.total.estimated_usd == 6.57  # not + 4.0, the experiments' own estimates


def test_by_month_is_the_total(ledger_path):
    rows = _rows(_report(ledger_path, "month"))
    assert rows["2026-11"] == pytest.approx(TOTAL) and rows["total"] == pytest.approx(TOTAL)


def test_by_pipeline_puts_a_sprint_under_its_own_name_and_builds_apart(ledger_path):
    report = _report(ledger_path, "pipeline")
    assert [row.group for row in report.rows] == ["mnist", "sweep", "image builds"]
    rows = _rows(report)
    assert rows["mnist"] == (3, 0, 0, 6, 1, 7.536, 2.5, 5.036)
    assert rows["sweep"] == (2, 1, 0, 4, 0, 4.536, 4.0, 0.536)
    assert rows["image builds"] == (0, 0, 1, 1, 0, None, 0.07, None)


def test_by_plan_splits_dollars_and_hours_not_estimates(ledger_path):
    report = _report(ledger_path, "plan")
    rows = _rows(report)
    assert [row.group for row in report.rows] == [GPU, CPU]
    # GPU: r1 2 h, the sprint 3 h, r3 3 h so far; CPU: r2 1 h, the sprint 1 h, the builder 1 h
    assert rows[GPU] == (1 + 2 + 1, 1, 0, 8, 1, 12.0, None, None)
    assert rows[CPU] == (1 + 2, 1, 1, 3, 0, 0.072, None, None)
    assert rows["total"] == pytest.approx(TOTAL)
    assert any("not per plan" in note for note in report.notes())
    gpu_line = next(line for line in report.lines() if line.startswith(GPU))
    assert gpu_line.split()[-2:] == ["-", "-"]


def test_since_keeps_what_started_after_it(ledger_path):
    report = _report(ledger_path, "day", since=datetime(2026, 11, 21, tzinfo=timezone.utc))
    assert [row.group for row in report.rows] == ["2026-11-21"]
    assert report.total.billed_usd == 9.036 and report.total.runs == 3
    later = _report(ledger_path, "day", since=datetime(2026, 11, 21, 10, tzinfo=timezone.utc))
    assert _rows(later)["total"] == (1, 0, 0, 3, 1, 4.5, 1.0, 3.5)  # only r3


def test_a_live_instance_is_counted_so_far(ledger_path):
    with Ledger.open(ledger_path) as ledger:
        later = cost_report(ledger, by="pipeline", since=None, now=NOW + timedelta(hours=2))
    assert _rows(later)["mnist"][3:6] == (8, 1, 10.536)  # r3: 5 hours so far
    assert any("still live" in note for note in later.notes())


def test_an_unknown_grouping_names_the_allowed_ones(ledger_path):
    with pytest.raises(UsageError, match="day, month, pipeline, sprint, plan"):
        _report(ledger_path, "week")


def test_lines_show_a_table_and_the_total(ledger_path):
    lines = _report(ledger_path, "pipeline").lines()
    assert lines[0].startswith("cost by pipeline")
    assert lines[1].split() == ["group", "runs", "sprints", "builds", "instance-h", "billed", "estimated",
                                "difference"]
    assert lines[2].split() == ["mnist", "3", "0", "0", "6", "(1", "live)", "$7.54", "$2.50", "+$5.04"]
    assert lines[5].split() == ["total", "5", "1", "1", "11", "(1", "live)", "$12.07", "$6.57", "+$5.57"]


def test_cli_prints_json(ledger_path):
    result = CliRunner().invoke(app, ["report", "--by", "sprint", "--since", "2026-11-21T00:00Z", "--json",
                                      "--ledger", str(ledger_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["by"] == "sprint" and data["since"].startswith("2026-11-21T00:00")
    groups = {row["group"]: row for row in data["rows"]}
    assert groups[SPRINT]["billed_usd"] == 4.536 and groups[SPRINT]["runs"] == 2
    assert data["total"]["estimated_usd"] == 5.07


def test_cli_text_and_bad_input(ledger_path, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["report", "--by", "month", "--ledger", str(ledger_path)])
    assert shown.exit_code == 0 and "2026-11" in shown.stdout and "total" in shown.stdout
    bad = runner.invoke(app, ["report", "--by", "week", "--ledger", str(ledger_path)])
    assert isinstance(bad.exception, UsageError) and "week" in str(bad.exception)
    bad_date = runner.invoke(app, ["report", "--since", "yesterday", "--ledger", str(ledger_path)])
    assert isinstance(bad_date.exception, UsageError)
    missing = tmp_path / "none.sqlite"
    empty = runner.invoke(app, ["report", "--json", "--ledger", str(missing)])
    assert empty.exit_code == 0 and json.loads(empty.stdout)["rows"] == [] and not missing.exists()
