"""A run's datasets before anything is paid for: filled on first use, validated, recorded, synced."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from stager.data.workflow import ValidationOutcome, hash_cache, validate_and_record
from stager.errors import JobFailed, UsageError
from stager.pipeline import DataSpec, PipelineSpec

__all__ = ["DataInvalid", "fill_missing", "sync_all", "sync_volumes", "validate_all", "volume_label_for"]


class DataInvalid(JobFailed):
    """A dataset failed an error-level check: the run stops before renting anything."""


@dataclass(frozen=True)
class Validated:
    data: DataSpec
    outcome: ValidationOutcome


def _missing(data: DataSpec) -> bool:
    return not data.path.is_dir() or not any(data.path.iterdir())


def fill_missing(spec: PipelineSpec, say: Callable[[str], None]) -> None:
    """Let the trainer's data module write datasets that are not there yet (``prepare_data``), on this machine.

    Datasets with ``sources`` are fetched by validation instead. The data module
    runs here, not on the instance, because the data must be validated (and
    recorded) before it trains anything.

    Raises:
        UsageError: a dataset is still missing afterwards.
    """
    missing = [d for d in spec.data if _missing(d) and not d.sources]
    if not missing:
        return
    if spec.train.config.get("data"):
        names = ", ".join(d.name for d in missing)
        say(f"dataset(s) {names} not found: asking the data module to prepare them (prepare_data)")
        _prepare(spec)
    for data in missing:
        if _missing(data):
            raise UsageError(f"{spec.path}: data.{data.name}.path: {data.path} is missing or empty; put the dataset "
                             "there, add `sources` to download it, or let the data module's prepare_data write it")


def _prepare(spec: PipelineSpec) -> None:
    from stager.train.config import load

    with tempfile.TemporaryDirectory(prefix="stager-prepare-") as folder:
        config = Path(folder) / "train.yaml"
        config.write_text(yaml.safe_dump({k: v for k, v in spec.train.config.items() if k in ("data", "model")}))
        plan = load([config], [])
        datamodule = plan.data.instantiate(plan.sources)
        datamodule.prepare_data()


def validate_all(spec: PipelineSpec, *, home: Path, say: Callable[[str], None]) -> list[Validated]:
    """Validate every dataset and save its manifest; stop at the first that fails an error-level check.

    Raises:
        DataInvalid: with the failed checks and where the report is.
    """
    done = []
    for data in spec.data:
        outcome = validate_and_record(data.settings(), home=home, say=say)
        report = outcome.report
        say(f"data {data.name}: {outcome.manifest.digest[:16]}... ({len(outcome.manifest.files)} files) "
            f"{'passed' if report.ok else 'FAILED'} validation")
        for line in _summary_lines(report):
            say(f"  {line}")
        if not report.ok:
            raise DataInvalid(f"{spec.path}: data.{data.name} ({data.path}) failed validation: "
                              f"{_failed_checks(report)}; manifest {outcome.manifest_path}. Fix the data, or set "
                              f"data.{data.name}.validate.<check>: warn to go on anyway")
        done.append(Validated(data, outcome))
    return done


def _summary_lines(report) -> list[str]:
    return [f"{f.level}: {f.check}{f' ({f.file})' if f.file else ''}: {f.message}"
            for f in report.findings if f.level in ("error", "warn")][:10]


def _failed_checks(report) -> str:
    checks = sorted({f.check for f in report.findings if f.level == "error"})
    return ", ".join(checks) or "error-level findings"


def sync_all(validated: list[Validated], spec: PipelineSpec, client, *, say: Callable[[str], None]) -> dict[str, str]:
    """Send each dataset to its prefix in the data bucket (only what changed); return name -> s3:// URL."""
    from stager.storage.s3 import S3Location
    from stager.storage.sync import sync_dataset

    urls = {}
    with hash_cache() as cache:
        for item in validated:
            url = spec.storage.dataset_url(item.data.name)
            result = sync_dataset(item.data.path, item.outcome.manifest, S3Location.parse(url), client,
                                  progress=False, say=say, cache=cache)
            say(f"data {item.data.name}: sent {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), "
                f"{result.skipped} unchanged, to {url}")
            urls[item.data.name] = url
    return urls


_VOLUME_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


def volume_label_for(spec: PipelineSpec, data: DataSpec) -> str:
    """The label of the volume holding ``data``: ``storage.volume.label`` (or ``stager-<pipeline>``), with the
    dataset's name appended when the pipeline has several (a volume holds one dataset).

    Raises:
        UsageError: the label is not a valid volume label.
    """
    base = spec.storage.volume_label or f"stager-{spec.name}"
    label = base if len(spec.data) == 1 else f"{base}-{data.name}"
    if not _VOLUME_LABEL.match(label) or "--" in label or "__" in label:
        raise UsageError(f"{spec.path}: storage.volume.label: {label!r} is not a valid volume label for dataset "
                         f"{data.name} (1-32 letters, digits, _ or -, starting with a letter); set a shorter "
                         "storage.volume.label")
    return label


def sync_volumes(validated: list[Validated], spec: PipelineSpec, target, *, run_id: str,
                 say: Callable[[str], None]) -> dict:
    """Put each dataset on its own volume in ``compute.region`` (only what changed); return name -> VolumeInfo.

    The volumes are kept after the run (tagged ``stager-dataset``): the next run attaches them again.
    """
    from stager.storage.volume import sync_to_volume

    volumes = {}
    for item in validated:
        label = volume_label_for(spec, item.data)
        result = sync_to_volume(target, item.data.path, item.outcome.manifest, label=label,
                                region=spec.compute.region, size_gb=spec.storage.volume_size_gb or 20,
                                run_id=run_id, say=say)
        say(f"data {item.data.name}: sent {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), "
            f"{result.skipped} unchanged, to volume {label} ({result.volume.id})")
        volumes[item.data.name] = result.volume
    return volumes
