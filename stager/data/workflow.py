"""Validate a dataset and record its manifest; find the manifest a sync sends.

The order matters: external sources are fetched first (so they are checked
too), validation runs against the previous manifest of the same name (for the
drift check), then the files are hashed (cached) and the manifest saved with
the validation result under ``$STAGER_HOME/datasets/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stager.data.datasets import DatasetSettings
from stager.data.sources import fetch_sources
from stager.data.validation import ValidationReport, validate_dataset
from stager.home import stager_home
from stager.storage.hashcache import HashCache
from stager.storage.manifest import Manifest, ManifestStore, new_manifest, scan_files

__all__ = ["ValidationOutcome", "current_manifest", "hash_cache", "validate_and_record"]

_FINDINGS_KEPT = 200  # per manifest: enough to audit, bounded for huge broken datasets


@dataclass(frozen=True)
class ValidationOutcome:
    report: ValidationReport
    manifest: Manifest  # with the validation result and the per-split statistics
    manifest_path: Path  # where it was saved


def validate_and_record(settings: DatasetSettings, *, home: Path | None = None,
                        say: Callable[[str], None] = print) -> ValidationOutcome:
    """Fetch sources, validate, hash and save the manifest (also when validation fails: it records why).

    Raises:
        UsageError: the folder is missing, empty or of no known layout.
        JobFailed: a source could not be fetched or did not match its pinned hash.
    """
    home = Path(home) if home else stager_home()
    if settings.sources:
        fetch_sources(list(settings.sources), settings.path, say=say)
    store = ManifestStore(home)
    previous = store.latest(settings.name)
    report = validate_dataset(settings.path, settings.validation,
                              previous_splits=previous.splits if previous and previous.splits else None)
    files = _scan(settings.path, home)
    sources = tuple({"url": s.url, "path": s.path, "sha256": s.sha256} for s in settings.sources)
    manifest = new_manifest(settings.name, settings.path, files, sources=sources)
    manifest = manifest.with_validation(report.splits, _summary(report))
    return ValidationOutcome(report, manifest, store.save(manifest))


def current_manifest(settings: DatasetSettings, *, home: Path | None = None,
                     say: Callable[[str], None] = print) -> Manifest:
    """The manifest of the folder as it is now: the validated one when the files are unchanged since."""
    home = Path(home) if home else stager_home()
    files = _scan(settings.path, home)
    latest = ManifestStore(home).latest(settings.name)
    if latest is not None and latest.files == files:
        return latest
    say(f"note: {settings.path} has changed since it was last validated as `{settings.name}` "
        "(run `stager data validate` to check it); syncing it as it is")
    return new_manifest(settings.name, settings.path, files)


def hash_cache(home: Path | None = None) -> HashCache:
    """The controller's file-hash cache (close it when done)."""
    return HashCache((Path(home) if home else stager_home()) / "cache" / "hashes.sqlite")


def _scan(path: Path, home: Path):
    with hash_cache(home) as cache:
        return scan_files(path, cache=cache)


def _summary(report: ValidationReport) -> dict:
    findings = report.to_json().get("findings", [])
    return {
        "ok": report.ok,
        "errors": sum(1 for f in report.findings if f.level == "error"),
        "warnings": sum(1 for f in report.findings if f.level == "warn"),
        "layout": report.layout,
        "checks": dict(report.checks_run),
        "findings": findings[:_FINDINGS_KEPT],
    }
