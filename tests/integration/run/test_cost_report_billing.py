"""`stager cost report` after real runs: its billed dollars are what the emulator billed for those runs' instances."""

from __future__ import annotations

import json

from run_world import run_json
from typer.testing import CliRunner

from stager.cli.cost import app

PIPELINE = "cost-report-billing"  # a name no other test's runs use, so the group holds only these runs


def test_billed_dollars_match_the_emulators_bill(run_world, tmp_path):
    run_ids = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        pipeline = run_world.pipeline(folder, epochs=1, batches=5, name=PIPELINE)
        done = run_world.run(folder, str(pipeline))
        assert done.returncode == 0, done.stderr[-3000:]
        run_ids.append(run_json(folder)["run_id"])

    with run_world.ledger() as ledger:
        records = [ledger.run(run_id) for run_id in run_ids]
    instances = {int(r.provider_id) for record in records for r in record.resources if r.kind == "instance"}
    assert len(instances) >= 2 and all(not r.live for record in records for r in record.resources)
    run_world.emulator.settle()
    billing = run_world.emulator.backend.billing.report()
    emulator_usd = round(sum(row["usd"] for row in billing["instances"] if row["instance_id"] in instances), 4)
    assert emulator_usd > 0

    result = CliRunner().invoke(app, ["report", "--by", "pipeline", "--json",
                                      "--ledger", str(run_world.home / "ledger.sqlite")])
    assert result.exit_code == 0, result.output
    row = next(row for row in json.loads(result.stdout)["rows"] if row["group"] == PIPELINE)
    assert row["runs"] == 2 and row["live_instances"] == 0
    assert row["billed_usd"] == emulator_usd
    emulator_hours = sum(r["hours"] for r in billing["instances"] if r["instance_id"] in instances)
    assert row["instance_hours"] == emulator_hours
    assert row["estimated_usd"] == round(sum(record.estimated_usd for record in records), 4)
