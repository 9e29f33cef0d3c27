"""What a reproduction of a recorded run starts from: the same spec, and proof that the data is still the same.

A run is reproduced from what the ledger recorded, not from whatever the
pipeline file says today: the resolved spec of the run, the image it booted
(pinned by id, never rebuilt) and its datasets, each re-hashed where the spec
names it and compared with the manifest recorded by digest. A dataset that no
longer matches is drift: its changed, added and removed files are named, and the
reproduction refuses to start unless drift is allowed.

Not covered: datasets fetched from pinned ``sources`` whose folder is gone (the
pinned hashes fetch the same bytes again, and the new run records their digest).
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from stager.errors import ConfigError, UsageError
from stager.ledger.records import RunRecord
from stager.pipeline import REDACTED, PipelineSpec, load_pipeline
from stager.storage.manifest import Manifest, ManifestStore, scan_files

__all__ = ["REPRODUCES_EVENT", "DatasetDrift", "dataset_drift", "drift_files", "drift_message", "recorded_spec"]

REPRODUCES_EVENT = "run.reproduces"  # the new run's event naming the run it reproduces


@dataclass(frozen=True)
class DatasetDrift:
    name: str
    changed: tuple[str, ...] = ()  # files whose content differs from the recorded manifest
    added: tuple[str, ...] = ()  # files there now that the manifest does not list
    removed: tuple[str, ...] = ()  # files the manifest lists that are gone
    note: str = ""  # why the files cannot be named, when they cannot

    def describe(self) -> str:
        parts = [f"{kind} {', '.join(files)}" for kind, files in
                 (("changed", self.changed), ("added", self.added), ("removed", self.removed)) if files]
        return "; ".join(parts + ([self.note] if self.note else []))


def recorded_spec(record: RunRecord, *, target: str | None = None) -> PipelineSpec:
    """The pipeline run ``record`` ran, loaded and checked again, as if from its original pipeline file.

    The original file is used when it still resolves to the recorded spec (its
    secrets then come from the environment, as they did); otherwise the recorded
    spec itself is loaded, which needs no secret the ledger hid.

    Raises:
        UsageError: the recorded spec hides secrets and the pipeline file no longer gives the same spec.
        ConfigError: the spec no longer loads (a recipe or class that is gone, say).
    """
    recorded = _comparable(record.spec)
    original = Path(record.pipeline_file)
    if _same_spec(original, recorded, record.target):
        spec = load_pipeline(original, target=target)
    else:
        hidden = _redacted_fields(recorded)
        if hidden:
            raise UsageError(f"run {record.id}'s recorded spec hides secret(s) at {', '.join(hidden)}, and its "
                             f"pipeline file {original} no longer gives the same spec; put back the file the run "
                             "was started from to reproduce it")
        with tempfile.TemporaryDirectory(prefix="stager-reproduce-") as folder:
            path = Path(folder) / "pipeline.yaml"
            path.write_text(yaml.safe_dump(recorded, sort_keys=False), encoding="utf-8")
            try:
                spec = load_pipeline(path, target=target)
            except ConfigError as exc:
                raise ConfigError(f"the spec run {record.id} recorded no longer loads: {exc}") from None
    # The recorded place of the file: relative train paths and the git state are looked up beside it, as they were.
    return dataclasses.replace(spec, path=original)


def _comparable(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "pipeline"}  # where the file lay, not what it said


def _same_spec(original: Path, recorded: dict, target: str) -> bool:
    if not original.is_file():
        return False
    try:
        return _comparable(load_pipeline(original, target=target, check_train=False).to_redacted_dict()) == recorded
    except ConfigError:
        return False


def _redacted_fields(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _redacted_fields(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _redacted_fields(v, f"{prefix}[{i}]")]
    return [prefix] if isinstance(value, str) and REDACTED in value else []


def dataset_drift(record: RunRecord, spec: PipelineSpec, *, home: Path) -> list[DatasetDrift]:
    """Each dataset of ``record`` whose files at ``spec``'s path no longer match the manifest the run recorded."""
    from stager.data.workflow import hash_cache

    store = ManifestStore(home)
    digests = {d.name: d.digest for d in record.datasets}  # a resumed run may record one again: the last counts
    drifts = []
    with hash_cache(home) as cache:
        for name, digest in digests.items():
            try:
                data = spec.dataset(name)
            except KeyError:
                drifts.append(DatasetDrift(name, note="the spec no longer names this dataset"))
                continue
            try:
                files = scan_files(data.path, cache=cache)
            except UsageError:  # the folder is gone or empty
                if data.sources:
                    continue  # fetched again from its pinned sources by validation
                files = ()
            now = Manifest(name=name, files=files)
            if now.digest == digest:
                continue
            old = store.get(name, digest)
            if old is None:
                drifts.append(DatasetDrift(name, note=f"its manifest {digest[:12]}... is not in {store.folder}, so "
                                                      "the files that differ cannot be named"))
                continue
            found = now.diff(old)
            drifts.append(DatasetDrift(name, found.changed, found.added, found.removed))
    return drifts


def drift_message(run_id: str, drifts: list[DatasetDrift]) -> str:
    """The one line refusing a reproduction on drifted data."""
    each = "; ".join(f"dataset {d.name} no longer matches its manifest of run {run_id}: {d.describe()}"
                     for d in drifts)
    return f"stager runs reproduce: {each}; pass --allow-drift to run anyway"


def drift_files(drifts: list[DatasetDrift]) -> list[dict]:
    """The drift as the ``run.reproduces`` event records it: one entry per file (or per dataset, when unnamed)."""
    files = [{"dataset": d.name, "file": path, "change": change} for d in drifts
             for change, paths in (("changed", d.changed), ("added", d.added), ("removed", d.removed))
             for path in paths]
    return files + [{"dataset": d.name, "file": None, "change": d.note} for d in drifts if d.note]
