"""`stager runs diff`: three real runs that differ in one thing each, and what the diff says about them."""

from __future__ import annotations

import json

import typer
from diff_world import CHANGED_FILE, changed_copy, run_once
from typer.testing import CliRunner

from stager.audit.diff import diff_runs
from stager.cli.runs_diff import diff
from stager.errors import UsageError
from stager.ledger import Ledger
from stager.storage.manifest import ManifestStore

HIDDEN = "train.model.init_args.hidden"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(diff)
    app.command("other")(lambda: None)  # two commands, so the app takes the command's name as typer's root would
    return app


def _invoke(home, *args: str):
    return CliRunner().invoke(_app(), ["diff", *args], env={"STAGER_HOME": str(home)})


def test_diff_names_the_model_change_and_the_changed_file(run_world, small_run, tmp_path):
    run_a = small_run[1]  # run_once's defaults: hidden 32 on the session's dataset, shared read-only
    run_b = run_once(run_world, tmp_path / "b", hidden=64)
    changed = changed_copy(run_world.data, tmp_path / "mnist-changed")
    run_c = run_once(run_world, tmp_path / "c", data=changed)
    with run_world.ledger() as ledger:
        a, b, c = ledger.run(run_a), ledger.run(run_b), ledger.run(run_c)
    store = ManifestStore(run_world.home)

    model = diff_runs(a, b, manifests=store)
    assert [(ch.path, ch.a, ch.b) for ch in model.spec] == [(HIDDEN, 32, 64)]
    assert model.data == () and model.code == () and model.environment == ()
    # stager's own wheel is part of the recipe hash: a stager edited between two runs makes a new image
    assert bool(model.image) == (a.images[-1].recipe_hash != b.images[-1].recipe_hash)
    assert model.metrics and all(ch.delta == round(ch.b - ch.a, 10) for ch in model.metrics if ch.kind == "changed")
    assert "val_loss" in {ch.path for ch in model.metrics}

    data = diff_runs(a, c, manifests=store)
    assert {ch.path for ch in data.spec} == {"data.mnist.path", "train.data.init_args.data_dir"}
    assert all(ch.b == str(changed) for ch in data.spec)
    assert not any(ch.path.startswith("train.model") for ch in data.spec)
    assert [(ch.path, ch.kind) for ch in data.data] == [("mnist", "changed"), (f"mnist/{CHANGED_FILE}", "changed")]
    assert data.data[0].a == a.datasets[-1].digest and data.data[0].b == c.datasets[-1].digest
    assert not data.data[0].note  # both manifests are in the store
    before, after = data.data[1].a, data.data[1].b
    assert before["size"] == after["size"] and before["sha256"] != after["sha256"]

    # the command: text names the change, JSON carries the same, exit 0 although the runs differ
    text = _invoke(run_world.home, run_a[:-2], run_b)
    assert text.exit_code == 0, text.output
    assert f"  {HIDDEN}: 32 -> 64" in text.output and "metrics (" in text.output
    assert "no differences in data" in text.output and "environment, code" in text.output
    shown = _invoke(run_world.home, run_a, run_c, "--json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["a"] == run_a and body["b"] == run_c and not body["empty"]
    assert [ch["path"] for ch in body["data"]] == ["mnist", f"mnist/{CHANGED_FILE}"]

    same = _invoke(run_world.home, run_a, run_a)
    assert same.exit_code == 0 and "no differences: same spec" in same.output


def _two_runs(tmp_path) -> tuple[str, str]:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ids = []
        for digest in ("a" * 64, "b" * 64):
            # the pipeline files lie in different folders: not a difference in what was trained
            spec = {"pipeline": str(tmp_path / digest[0] / "p.yaml"), "train": {"hidden": 32}}
            run_id = ledger.create_run(pipeline="p", pipeline_file=spec["pipeline"], target="local", spec=spec,
                                       versions={"python": "3"}, git=None)
            ledger.dataset(run_id, name="mnist", digest=digest, ok=True)
            ids.append(run_id)
    return ids[0], ids[1]


def test_a_manifest_missing_from_the_store_is_said_and_unknown_runs_are_usage_errors(tmp_path):
    run_a, run_b = _two_runs(tmp_path)
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        result = diff_runs(ledger.run(run_a), ledger.run(run_b), manifests=ManifestStore(tmp_path))
    assert result.spec == () and [ch.path for ch in result.data] == ["mnist"]
    assert "not in the store" in result.data[0].note and result.data[0].line().startswith("mnist: aaaa")

    ledger_path = str(tmp_path / "ledger.sqlite")
    shown = _invoke(tmp_path, run_a, run_b, "--ledger", ledger_path)
    assert shown.exit_code == 0
    assert "manifest A's (aaaaaaaaaaaa) and B's (bbbbbbbbbbbb) not in the store" in shown.output
    unknown = _invoke(tmp_path, run_a, "r-nosuchrun", "--ledger", ledger_path)
    assert isinstance(unknown.exception, UsageError) and unknown.exception.exit_code == 2
    assert "no run r-nosuchrun" in str(unknown.exception)
    nothing = _invoke(tmp_path / "empty", run_a, run_b)
    assert isinstance(nothing.exception, UsageError) and "no ledger" in str(nothing.exception)
