"""`stager runs reproduce`: a real run again on the same image, spec and data; refused, then allowed, on drift."""

from __future__ import annotations

import shutil

from diff_world import CHANGED_FILE, run_once

from stager.audit.reproduce import REPRODUCES_EVENT
from stager.ledger import Ledger


def _instances_created(world) -> int:
    world.emulator.settle()
    return sum(1 for e in world.emulator.backend.events.events.values() if e.action == "linode_create")


def _reproduce(world, folder, *args: str):
    return world.run(folder, *args, command=("runs", "reproduce"))


def _new_run(world, known: set[str]):
    with world.ledger() as ledger:
        (new,) = [s.id for s in ledger.runs() if s.id not in known]
        return ledger.run(new)


def test_reproduce_pins_the_image_and_refuses_drifted_data_unless_allowed(run_world, tmp_path):
    data = tmp_path / "mnist"
    shutil.copytree(run_world.data, data)
    folder = tmp_path / "a"
    original_id = run_once(run_world, folder, data=data)
    with run_world.ledger() as ledger:
        original = ledger.run(original_id)
        known = {s.id for s in ledger.runs()}

    same = _reproduce(run_world, folder, original_id)
    assert same.returncode == 0, same.stderr[-3000:]
    again = _new_run(run_world, known)
    known.add(again.id)
    assert f"{again.id} succeeded" in same.stdout
    assert f"A: {original_id}\nB: {again.id}" in same.stdout and "no differences" in same.stdout
    assert "\ndata (" not in same.stdout and "\nimage (" not in same.stdout and "\nspec (" not in same.stdout
    assert again.images[-1].image_id == original.images[-1].image_id
    assert again.images[-1].recipe_hash == original.images[-1].recipe_hash
    assert [d.digest for d in again.datasets] == [d.digest for d in original.datasets]
    assert [e.data for e in again.events if e.kind == REPRODUCES_EVENT] == [
        {"run": original_id, "allow_drift": False, "drift": []}]
    assert "imaging" not in [t.state for t in again.transitions]

    image = original.images[-1].image_id
    planned = _reproduce(run_world, folder, original_id, "--dry-run")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert f"reproducing run {original_id} on image {image} (pinned)" in planned.stdout
    assert f"reuse {image}" in planned.stdout

    # the image is gone (a ledger whose run names an image that never existed): one line naming it
    elsewhere = tmp_path / "elsewhere.sqlite"
    with Ledger.open(elsewhere) as ledger:
        lost = ledger.create_run(pipeline=original.pipeline, pipeline_file=original.pipeline_file, target="local",
                                 spec=original.spec, versions=original.versions, git=original.git)
        for dataset in original.datasets:
            ledger.dataset(lost, name=dataset.name, digest=dataset.digest, ok=dataset.ok)
        ledger.image(lost, image_id="private/999999", recipe_hash=original.images[-1].recipe_hash)
    gone = _reproduce(run_world, folder, lost, "--ledger", str(elsewhere))
    assert gone.returncode == 2 and "\n" not in gone.stderr.strip() and "image private/999999" in gone.stderr

    # one label of the dataset changed in place: refused before anything is rented or recorded
    labels = data / CHANGED_FILE
    content = bytearray(labels.read_bytes())
    content[8] = (content[8] + 1) % 10  # the first label, after the IDX1 header; still a digit
    labels.write_bytes(bytes(content))
    created = _instances_created(run_world)
    refused = _reproduce(run_world, folder, original_id[:-2])
    assert refused.returncode == 2, refused.stderr[-3000:]
    message = refused.stderr.strip()
    assert "\n" not in message and f"dataset mnist no longer matches its manifest of run {original_id}" in message
    assert f"changed {CHANGED_FILE}" in message and "--allow-drift" in message
    assert _instances_created(run_world) == created and run_world.live_instances() == []
    with run_world.ledger() as ledger:
        assert {s.id for s in ledger.runs()} == known

    drifted = _reproduce(run_world, folder, original_id, "--allow-drift")
    assert drifted.returncode == 0, drifted.stderr[-3000:]
    third = _new_run(run_world, known)
    assert third.images[-1].image_id == original.images[-1].image_id
    assert third.datasets[-1].digest != original.datasets[-1].digest
    (link,) = [e.data for e in third.events if e.kind == REPRODUCES_EVENT]
    assert link == {"run": original_id, "allow_drift": True,
                    "drift": [{"dataset": "mnist", "file": CHANGED_FILE, "change": "changed"}]}
    assert f"  mnist/{CHANGED_FILE}: sha256" in drifted.stdout and "data (2 differences)" in drifted.stdout
