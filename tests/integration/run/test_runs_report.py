"""`stager runs report`: the page of one real run, and of a hand-made run whose every text is hostile."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from stager.cli.runs_report import report
from stager.errors import UsageError
from stager.ledger import Ledger


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(report)
    app.command("other")(lambda: None)  # two commands, so the app takes the command's name as typer's root would
    return app


def _invoke(home, *args: str):
    return CliRunner().invoke(_app(), ["report", *args], env={"STAGER_HOME": str(home)})


@pytest.fixture(scope="module")
def reported_run(run_world_session, two_epoch_run):
    """The session's real run on the local target, two epochs of twenty batches: a loss curve of several points."""
    folder, _, run_id = two_epoch_run
    return run_world_session, folder, run_id


def _section(page: str, anchor: str) -> ET.Element:
    """One section of the page, parsed: the sections are well-formed XML, so a stray tag would fail here."""
    found = re.search(rf'<section id="{anchor}">.*?</section>', page, re.DOTALL)
    assert found, f"no #{anchor} section"
    return ET.fromstring(found.group(0))


def _charts(section: ET.Element) -> dict[str, ET.Element]:
    return {svg.get("data-title"): svg for svg in section.iter("svg") if svg.get("class") == "chart"}


def _cells(table: ET.Element) -> list[list[str]]:
    return [["".join(td.itertext()) for td in tr.iter("td")] for tr in table.find("tbody").iter("tr")]


def test_the_report_of_a_real_run_holds_its_curves_stages_cost_data_and_provenance(run_world, reported_run,
                                                                                   tmp_path, monkeypatch):
    world, folder, run_id = reported_run
    runs_dir = folder / "runs"
    assert (runs_dir / run_id / "metrics.jsonl").is_file()  # the run's folder is where the run left it
    with world.ledger() as ledger:
        record = ledger.run(run_id)

    written = _invoke(world.home, run_id[:-2], "--runs-dir", str(runs_dir))
    assert written.exit_code == 0, written.output
    path = runs_dir / run_id / "report.html"
    assert written.output.strip() == str(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and not list(path.parent.glob(".*.tmp"))

    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page

    # 1. the loss as a real line chart, from the run folder's metrics
    charts = _charts(_section(page, "metrics"))
    loss_title = next(title for title in charts if "train_loss" in title)
    loss = next(line for line in charts[loss_title].iter("polyline") if line.get("data-series") == "train_loss")
    assert len(loss.get("points").split()) >= 2
    assert any(line.get("data-series") == "val_loss" for line in charts[loss_title].iter("polyline"))
    assert any("val_acc" in title for title in charts)

    # 2. the stages, in the order the run went through them
    timeline = _section(page, "timeline")
    spans = [rect.get("data-label") for rect in _charts(timeline)["stages"].iter("rect")
             if rect.get("class") == "span"]
    states = [t.state for t in record.transitions]
    assert spans == states[:-1] and states[-1] == "succeeded"
    assert {"validating", "provisioning", "training", "tearing_down"} <= set(spans)
    assert [row[0] for row in _cells(timeline.find("table"))] == states

    # 3. one cost row per resource the ledger holds, with its dollars; the totals
    cost = _section(page, "cost")
    rows = _cells(next(t for t in cost.iter("table") if t.get("class") == "resources"))
    assert sorted((r[0], r[1], r[3]) for r in rows) == sorted((r.kind, r.label, r.plan or "-")
                                                              for r in record.resources)
    instance = next(r for r in record.resources if r.kind == "instance")
    assert instance.usd and f"${instance.usd:,.2f}".rstrip("0").rstrip(".") in "".join(cost.itertext())
    totals = {th.text: "".join(td.itertext()) for th, td in
              ((tr.find("th"), tr.find("td")) for tr in cost.find("table").iter("tr"))}
    assert totals["estimated"].startswith("$") and totals["actual"].startswith("$")

    # 4. the dataset by digest, validated, with its manifest's file count
    (dataset,) = {(d.name, d.digest) for d in record.datasets}
    data = "".join(_section(page, "data").itertext())
    assert dataset[0] in data and dataset[1] in data and "ok" in data and "idx" in data

    # 5. provenance: image, versions, code, artifacts, final metrics
    provenance = _section(page, "provenance")
    facts = {th.text: "".join(td.itertext()) for th, td in
             ((tr.find("th"), tr.find("td")) for tr in provenance.find("table").iter("tr"))}
    image = record.images[-1]
    assert image.image_id in facts["image"] and image.recipe_hash in facts["image"]
    for name, version in record.versions.items():
        assert facts[f"version: {name}"] == version
    assert {"version: stager", "version: torch", "version: python"} <= set(facts)
    assert facts["git commit"] == "not a git checkout" if record.git is None else record.git["commit"] in facts[
        "git commit"]
    assert facts[f"dataset: {dataset[0]}"] == dataset[1]
    text = "".join(provenance.itertext())
    assert all(a.sha256 in text and a.path in text for a in record.artifacts) and record.artifacts
    assert "val_loss" in text

    # -o writes elsewhere; without the run's folder the page goes to the current directory
    chosen = _invoke(world.home, run_id, "-o", str(tmp_path / "chosen.html"), "--runs-dir", str(runs_dir))
    assert chosen.exit_code == 0 and (tmp_path / "chosen.html").read_text(encoding="utf-8").startswith("<!doctype")
    monkeypatch.chdir(tmp_path)
    elsewhere = _invoke(world.home, run_id, "--runs-dir", str(tmp_path / "no-runs-here"))
    assert elsewhere.exit_code == 0 and elsewhere.output.strip() == f"report-{run_id}.html"
    assert "train.epoch" in (tmp_path / f"report-{run_id}.html").read_text(encoding="utf-8")  # the ledger's curves


def test_unknown_runs_are_one_line_and_exit_2(reported_run, tmp_path):
    world, _, _ = reported_run
    unknown = _invoke(world.home, "r-nosuchrun")
    assert isinstance(unknown.exception, UsageError) and unknown.exception.exit_code == 2
    assert "no run r-nosuchrun" in str(unknown.exception)
    nothing = _invoke(tmp_path / "empty", "r-nosuchrun")
    assert isinstance(nothing.exception, UsageError) and "no ledger" in str(nothing.exception)
    # as a user meets it: the real command, one line on stderr, no traceback
    done = subprocess.run([sys.executable, "-m", "stager", "runs", "report", "r-nosuchrun"], env=world.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "no run r-nosuchrun" in done.stderr
    assert "Traceback" not in done.stderr


HOSTILE = '<script>alert("owned")</script>'


def test_every_recorded_text_is_escaped(tmp_path):
    from stager.audit.report import report_html

    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        run_id = ledger.create_run(pipeline=f"p{HOSTILE}", pipeline_file=f"/x/{HOSTILE}.yaml", target="local",
                                   spec={"name": HOSTILE}, versions={"python": HOSTILE}, git={"commit": HOSTILE})
        ledger.dataset(run_id, name=f"d{HOSTILE}", digest="a" * 64, ok=False)
        ledger.resource_created(run_id, kind="instance", provider_id=7, label=HOSTILE, plan=HOSTILE, region=HOSTILE,
                                hourly_usd=1.5, monthly_usd=None)
        ledger.event(run_id, "train.epoch", {"epoch": 0, "step": 10, "metrics": {HOSTILE: 1.0, "loss": 2.0}})
        ledger.event(run_id, "train.epoch", {"epoch": 1, "step": 20, "metrics": {HOSTILE: 0.5, "loss": 1.0}})
        ledger.transition(run_id, "validating")
        ledger.transition(run_id, "failed", reason=HOSTILE)
        page = report_html(ledger, run_id, runs_dir=tmp_path / "runs", home=tmp_path, nav="<nav>home</nav>")
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 10  # each place the text appears, shown and not run
    assert "<nav>home</nav>" in page  # the caller's navigation is raw HTML, by design
    for anchor in ("metrics", "timeline", "cost", "data", "provenance"):
        _section(page, anchor)  # still well-formed: the hostile text closed no tag
    loss = _charts(_section(page, "metrics"))["loss"]
    assert [len(line.get("points").split()) for line in loss.iter("polyline")] == [2]
    assert "not in" in "".join(_section(page, "data").itertext())  # the manifest is not in this home's store
