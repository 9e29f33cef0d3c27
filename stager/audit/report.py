"""One run as a page: metric curves, stage timeline, cost, data validation and provenance, in one HTML file.

``gather_report`` reads what is known about a run (the ledger's record, the
metrics in its folder, the manifests of its datasets) into a ``RunReport``;
``report_html`` renders it as a self-contained page: inline CSS and SVG, no
script and nothing fetched, so it opens from an e-mail or an archive years
later. Every value that came from the ledger, a manifest or a metrics file is
HTML-escaped: run names, labels and messages are the user's text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path
from typing import Any

import yaml

from stager import display
from stager.audit import svg
from stager.errors import UsageError
from stager.ledger.records import RunRecord
from stager.ledger.states import is_finished
from stager.storage.manifest import Manifest, ManifestStore

__all__ = ["DatasetSummary", "RunReport", "StageSpan", "gather_report", "report_body", "report_html"]

_FINDINGS_SHOWN = 20
_SPLIT_PREFIXES = ("train_", "val_", "valid_", "validation_", "test_")
_LR = re.compile(r"(^|_)(lr|learning_rate)(_|$)")


@dataclass(frozen=True)
class StageSpan:
    state: str
    start: datetime
    end: datetime  # the next transition, or now for a run still in this state
    reason: str | None
    ongoing: bool = False

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    digest: str
    ok: bool  # what the ledger recorded
    manifest: Manifest | None  # None when the store does not hold it
    note: str = ""  # why the manifest is missing or could not be read


@dataclass(frozen=True)
class RunReport:
    record: RunRecord
    metrics: dict[str, list[tuple[float, float]]]  # metric name -> (step, value), in step order
    metrics_source: str  # where the curves were read; "" when there are none
    stages: tuple[StageSpan, ...]  # the run's states in order; the final state of a finished run has none
    datasets: tuple[DatasetSummary, ...]
    final_metrics: dict[str, Any]


def gather_report(ledger, run_id: str, *, runs_dir: Path, home: Path, now: datetime | None = None) -> RunReport:
    """What the page shows about ``run_id`` (a unique start of an id is enough).

    Raises:
        UsageError: no such run, or the start of an id matches several.
    """
    record = ledger.run(run_id)
    metrics_file = Path(runs_dir) / record.id / "metrics.jsonl"
    metrics, source = _folder_metrics(metrics_file), str(metrics_file)
    if not metrics:
        metrics, source = _ledger_metrics(record), "the ledger's train.epoch events"
    return RunReport(
        record=record,
        metrics=metrics,
        metrics_source=source if metrics else "",
        stages=_stages(record, now or datetime.now(timezone.utc)),
        datasets=_datasets(record, ManifestStore(home)),
        final_metrics=_final_metrics(record, metrics),
    )


def report_body(ledger, run_id: str, *, runs_dir: Path, home: Path, nav: str = "") -> str:
    """The page's content (header and sections) without ``<html>``, for embedding; ``nav`` goes first, raw."""
    return _body(gather_report(ledger, run_id, runs_dir=runs_dir, home=home), nav)


def report_html(ledger, run_id: str, *, runs_dir: Path, home: Path, nav: str = "") -> str:
    """A whole ``<!doctype html>`` page about one run; ``nav`` is raw HTML put at the top of the body."""
    report = gather_report(ledger, run_id, runs_dir=runs_dir, home=home)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>run {escape(report.record.id)}: stager report</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{_body(report, nav)}\n</main>\n</body>\n</html>\n")


def _body(report: RunReport, nav: str) -> str:
    return "\n".join([nav, _header(report), _metrics_section(report), _timeline_section(report),
                      _cost_section(report.record), _data_section(report), _provenance_section(report)])


# -- gathering ------------------------------------------------------------------------------------


def _folder_metrics(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Metrics from a run folder's metrics.jsonl, from the last training that started at step 0.

    A rehearsal writes to the same file before the real training does; a resumed
    training starts above step 0 and so continues the curve it resumed.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:  # a line cut short by a crash
            continue
        if not isinstance(record, dict):
            continue
        if record.get("event") == "start" and not record.get("global_step"):
            records = []
        elif record.get("event") in ("metrics", "epoch"):
            records.append(record)
    return _series(records)


def _ledger_metrics(record: RunRecord) -> dict[str, list[tuple[float, float]]]:
    return _series([e.data for e in record.events if e.kind == "train.epoch"])


def _series(records: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """(step, value) per metric name; a step reported twice keeps its last value."""
    by_name: dict[str, dict[float, float]] = {}
    for record in records:
        step = _number(record.get("step"))
        if step is None:
            step = _number(record.get("epoch"))
        values = record.get("metrics")
        if step is None or not isinstance(values, dict):
            continue
        for name, value in values.items():
            number = _number(value)
            if number is not None:
                by_name.setdefault(str(name), {})[step] = number
    return {name: sorted(points.items()) for name, points in sorted(by_name.items())}


def _number(value: Any) -> float | None:
    """A float from a number or from "NaN"/"Infinity" (the report protocol's non-finite values)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _stages(record: RunRecord, now: datetime) -> tuple[StageSpan, ...]:
    spans = []
    transitions = record.transitions
    for index, transition in enumerate(transitions):
        if index + 1 < len(transitions):
            spans.append(StageSpan(transition.state, transition.time, transitions[index + 1].time,
                                   transition.reason))
        elif not is_finished(transition.state):
            spans.append(StageSpan(transition.state, transition.time, max(now, transition.time),
                                   transition.reason, ongoing=True))
    return tuple(spans)


def _datasets(record: RunRecord, store: ManifestStore) -> tuple[DatasetSummary, ...]:
    # A resumed run may validate a dataset again; the same (name, digest) is shown once, at its last record.
    latest = {(d.name, d.digest): d for d in record.datasets}
    summaries = []
    for dataset in latest.values():
        try:
            manifest = store.get(dataset.name, dataset.digest)
            note = "" if manifest is not None else f"manifest not in {store.folder} (made on another machine?)"
        except UsageError as exc:  # damaged or edited by hand: the page still shows what the ledger holds
            manifest, note = None, str(exc)
        summaries.append(DatasetSummary(dataset.name, dataset.digest, dataset.ok, manifest, note))
    return tuple(summaries)


def _final_metrics(record: RunRecord, metrics: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    ended = [e for e in record.events if e.kind == "train.ended" and not e.data.get("rehearsal")]
    if ended and ended[-1].data.get("metrics"):
        return dict(sorted(ended[-1].data["metrics"].items()))
    return {name: points[-1][1] for name, points in metrics.items() if points}


# -- rendering ------------------------------------------------------------------------------------


class _Raw(str):
    """HTML already made safe (a chart, a badge): table cells of this type are not escaped again."""


def _text(value: Any) -> str:
    if isinstance(value, _Raw):
        return value
    return escape("-" if value is None else str(value))


def _table(headings: tuple[str, ...], rows: list[tuple], *, cls: str = "") -> str:
    if not rows:
        return '<p class="none">none recorded</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pairs(rows: list[tuple[str, Any]]) -> str:
    """A two-column key/value table."""
    body = "".join(f"<tr><th>{escape(key)}</th><td>{_text(value)}</td></tr>" for key, value in rows)
    return f'<table class="pairs"><tbody>{body}</tbody></table>'


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _duration(seconds: float) -> str:
    return display.duration(timedelta(seconds=round(seconds)))


def _usd(amount: float | None) -> str:
    """Dollars to a hundredth of a cent, without trailing zeros: "$1.536", "-$0.04"."""
    if amount is None:
        return "-"
    text = f"{abs(amount):,.4f}".rstrip("0").rstrip(".")
    return f"-${text}" if amount < 0 and text != "0" else f"${text}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _badge(state: str) -> _Raw:
    kind = "good" if state == "succeeded" else "bad" if state in ("failed", "aborted") else "busy"
    return _Raw(f'<span class="badge {kind}">{escape(state)}</span>')


def _ok(ok: bool) -> _Raw:
    return _Raw('<span class="badge good">ok</span>' if ok else '<span class="badge bad">failed</span>')


def _header(report: RunReport) -> str:
    run = report.record
    total = (run.finished or datetime.now(timezone.utc)) - run.created
    facts = [("pipeline", run.pipeline), ("target", run.target), ("state", _badge(run.state)),
             ("created", _when(run.created)), ("finished", _when(run.finished)),
             ("duration", _duration(total.total_seconds()) + ("" if run.is_finished else " (so far)")),
             ("cost", f"estimated {_usd(run.estimated_usd)}, actual {_usd(run.actual_usd)}")]
    if run.sprint_id:
        facts.insert(2, ("sprint", run.sprint_id))
    reason = next((t.reason for t in reversed(run.transitions) if t.reason), None)
    if reason and run.state in ("failed", "aborted"):
        facts.append(("reason", reason))
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{_text(v)}</dd></div>" for k, v in facts)
    return f'<header>\n<h1>run <code>{escape(run.id)}</code></h1>\n<dl class="facts">{items}</dl>\n</header>'


def _chart_groups(names: list[str]) -> dict[str, list[str]]:
    """Metric names grouped into charts: every loss together, learning rates together, train_x with val_x."""
    groups: dict[str, list[str]] = {}
    for name in names:
        lowered = name.lower()
        if "loss" in lowered:
            group = "loss"
        elif _LR.search(lowered) or lowered.startswith("lr-"):
            group = "learning rate"
        else:
            group = lowered
            for prefix in _SPLIT_PREFIXES:
                group = group.removeprefix(prefix)
            group = re.sub(r"_(step|epoch)$", "", group)
        groups.setdefault(group, []).append(name)
    return dict(sorted(groups.items(), key=lambda item: (item[0] != "loss", item[0] != "learning rate", item[0])))


def _metrics_section(report: RunReport) -> str:
    if not report.metrics:
        return _section("metrics", "Metrics", '<p class="none">no metrics were reported for this run</p>')
    charts = []
    for group, names in _chart_groups(list(report.metrics)).items():
        title = f"{group}: {', '.join(names)}" if names != [group] else group
        charts.append(svg.line_chart({name: report.metrics[name] for name in names}, title=title,
                                     x_label="step", y_label=group))
    note = f'<p class="source">read from {escape(report.metrics_source)}</p>'
    return _section("metrics", "Metrics", note + '<div class="charts">' + "\n".join(charts) + "</div>")


def _timeline_section(report: RunReport) -> str:
    if not report.stages:
        return _section("timeline", "Timeline", '<p class="none">no stages recorded</p>')
    origin = report.stages[0].start
    spans = [(s.state, (s.start - origin).total_seconds(), (s.end - origin).total_seconds()) for s in report.stages]
    chart = svg.timeline(spans, title="stages")
    rows = [(_badge(s.state), _when(s.start), _duration(s.seconds) + (" (so far)" if s.ongoing else ""),
             s.reason) for s in report.stages]
    run = report.record
    if run.is_finished and run.transitions:
        last = run.transitions[-1]
        rows.append((_badge(last.state), _when(last.time), "-", last.reason))
    return _section("timeline", "Timeline", chart + _table(("state", "from", "duration", "reason"), rows))


def _cost_section(run: RunRecord) -> str:
    rows = [(r.kind, r.label, r.provider_id, r.plan, r.region, _when(r.created),
             _when(r.deleted) if r.deleted else _Raw('<span class="badge busy">LIVE</span>'),
             r.billed_hours, _usd(r.hourly_usd) if r.hourly_usd is not None else "free", _usd(r.usd))
            for r in run.resources]
    table = _table(("kind", "label", "id", "plan", "region", "created", "deleted", "billed hours", "hourly",
                    "dollars"), rows, cls="resources")
    totals = _pairs([("estimated", _usd(run.estimated_usd)), ("actual", _usd(run.actual_usd)),
                     ("billed resources", _usd(run.billed_usd)),
                     ("difference (actual - estimated)", _usd(run.actual_usd - run.estimated_usd)
                      if run.actual_usd is not None and run.estimated_usd is not None else "-")])
    billed = [(f"{r.kind} {r.label}", r.usd) for r in run.resources if r.usd]
    chart = svg.bar_chart(billed, title="dollars per resource", y_label="USD") if billed else ""
    return _section("cost", "Cost", totals + table + chart)


def _data_section(report: RunReport) -> str:
    if not report.datasets:
        return _section("data", "Data validation", '<p class="none">this run recorded no datasets</p>')
    parts = []
    for dataset in report.datasets:
        rows: list[tuple[str, Any]] = [("digest", _Raw(f"<code>{escape(dataset.digest)}</code>")),
                                       ("validation", _ok(dataset.ok))]
        findings = ""
        manifest = dataset.manifest
        if manifest is None:
            rows.append(("manifest", dataset.note))
        else:
            rows += [("files", f"{len(manifest.files):,}"), ("size", f"{manifest.total_bytes:,} bytes"),
                     ("made", manifest.created or "-"), ("folder", manifest.root or "-")]
            summary = manifest.validation or {}
            if summary:
                rows += [("layout", summary.get("layout")),
                         ("errors / warnings", f"{summary.get('errors', 0)} / {summary.get('warnings', 0)}"),
                         ("checks run", ", ".join(f"{k} ({v})" for k, v in sorted((summary.get("checks") or {})
                                                                                    .items()) if v != "off"))]
                findings = _findings(summary.get("findings") or [])
        parts.append(f'<div class="dataset"><h3>{escape(dataset.name)}</h3>{_pairs(rows)}{findings}</div>')
    return _section("data", "Data validation", "\n".join(parts))


def _findings(findings: list[dict]) -> str:
    if not findings:
        return '<p class="none">no findings</p>'
    rows = [(f.get("level"), f.get("check"), f.get("split"), f.get("file"), f.get("count"), f.get("message"))
            for f in findings[:_FINDINGS_SHOWN] if isinstance(f, dict)]
    more = len(findings) - len(rows)
    table = _table(("level", "check", "split", "file", "count", "message"), rows, cls="findings")
    return table + (f'<p class="none">and {more} more</p>' if more > 0 else "")


def _provenance_section(report: RunReport) -> str:
    run = report.record
    git = run.git or {}
    code = (f"{git.get('commit') or '-'}" + (" (dirty)" if git.get("dirty") else " (clean)")) if git else \
        "not a git checkout"
    rows: list[tuple[str, Any]] = [("run", run.id), ("pipeline", run.pipeline), ("pipeline file", run.pipeline_file),
                                   ("target", run.target)]
    rows += [("image", f"{i.image_id} (recipe {i.recipe_hash})") for i in run.images] or [("image", "-")]
    rows += [(f"version: {name}", version) for name, version in sorted(run.versions.items())]
    environment = run.instance_environment or {}
    rows += [(f"instance: {key}", environment[key]) for key in ("python", "platform", "torch_cuda")
             if key in environment]
    rows += [("git commit", code)]
    rows += [(f"dataset: {d.name}", d.digest) for d in report.datasets]
    rows += [("ledger head hash", run.head_hash)]
    artifacts = _table(("path", "location", "size", "sha256"),
                       [(a.path, a.location, f"{a.size:,}", _Raw(f"<code>{escape(a.sha256)}</code>"))
                        for a in run.artifacts], cls="artifacts")
    final = _table(("metric", "value"), [(k, _value(v)) for k, v in report.final_metrics.items()], cls="final")
    spec = escape(yaml.safe_dump(run.spec, sort_keys=False).rstrip() or "{}")
    packages = environment.get("packages")
    installed = (f"<details><summary>packages on the training instance ({len(packages)})</summary>"
                 + _table(("package", "version"), sorted(packages.items()), cls="packages") + "</details>"
                 if isinstance(packages, dict) and packages else "")
    return _section("provenance", "Provenance", _pairs(rows) + "<h3>Artifacts</h3>" + artifacts
                    + "<h3>Final metrics</h3>" + final + installed
                    + f"<details><summary>resolved pipeline</summary><pre>{spec}</pre></details>")


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;background:#fafafa;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin:16px 0 6px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f0f0f0;padding:8px;overflow:auto}
table{border-collapse:collapse;margin:8px 0;background:#fff}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f2f2f2}table.pairs th{background:#f7f7f7;font-weight:600;white-space:nowrap}
td{word-break:break-all}
dl.facts{display:flex;flex-wrap:wrap;gap:6px 24px;margin:0}dl.facts dt{font-size:12px;color:#666}
dl.facts dd{margin:0}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;font-weight:600}
.badge.good{background:#d8f0dd;color:#155724}.badge.bad{background:#f8d7da;color:#721c24}
.badge.busy{background:#fff3cd;color:#856404}
.none,.source{color:#666;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{background:#fff;border:1px solid #e0e0e0;max-width:100%}
.dataset{margin-bottom:16px}
"""
