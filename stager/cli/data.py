"""``stager data validate|sync|pull``: check training data, record its manifest, move it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stager.errors import JobFailed

app = typer.Typer(help="Validate datasets, write their manifests, and sync them to Object Storage or volumes.",
                  no_args_is_help=True, add_completion=False)

_TARGET = typer.Option("local", "--target", "-t", help="local (the emulator on this machine) or linode.")
_ENDPOINT = typer.Option(None, "--endpoint-url", help="Any S3-compatible endpoint; keys from AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY or $STAGER_HOME/credentials.yaml.")
_NAME = typer.Option(None, "--name", help="The dataset's name (default: the pipeline's data.<name>, "
                     "else the folder's).")
_CONFIG = typer.Option(None, "--config", "-c", help="A pipeline (its data.<name>.validate is used) or a YAML file of "
                       "check settings.")
_DATASET = typer.Option(None, "--dataset", help="Which data.<name> of the pipeline given with --config.")


def _err(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="The dataset folder."),
    config: Path | None = _CONFIG,
    dataset: str | None = _DATASET,
    name: str | None = _NAME,
    report: Path | None = typer.Option(None, "--report", help="Also write the report: report.json or report.html."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report on stdout instead of the table."),
) -> None:
    """Check a dataset before GPU time is paid for; write its manifest. Exit 1 when an error-level check fails."""
    from rich.console import Console

    from stager.data.datasets import DatasetSettings
    from stager.data.report import render_table, write_report
    from stager.data.workflow import validate_and_record

    settings = DatasetSettings.resolve(path, config=config, dataset=dataset, name=name)
    outcome = validate_and_record(settings, say=_err)
    if report is not None:
        write_report(outcome.report, report)
    if as_json:
        typer.echo(json.dumps({**outcome.report.to_json(), "manifest": outcome.manifest.digest}, indent=2))
    else:
        render_table(outcome.report, Console())
        typer.echo(f"manifest {outcome.manifest.digest} ({len(outcome.manifest.files)} files, "
                   f"{outcome.manifest.total_bytes / 1024**2:.1f} MB): {outcome.manifest_path}")
    if not outcome.report.ok:
        errors = sum(1 for f in outcome.report.findings if f.level == "error")
        raise JobFailed(f"{path}: {errors} error-level finding(s); fix the data or set those checks to warn")


@app.command()
def sync(
    path: Path = typer.Argument(..., help="The dataset folder."),
    dest: str = typer.Argument(..., help="s3://bucket/prefix (Object Storage) or volume://label (Block Storage)."),
    target: str = _TARGET,
    endpoint_url: str | None = _ENDPOINT,
    delete: bool = typer.Option(False, "--delete", help="Remove objects that are no longer in the dataset."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent or deleted; send nothing."),
    name: str | None = _NAME,
    region: str = typer.Option("us-east", "--region", help="volume:// only: the volume's region."),
    size_gb: int = typer.Option(20, "--size-gb", min=10, max=10240, help="volume:// only: the volume's size."),
    create_bucket: bool | None = typer.Option(None, "--create-bucket/--no-create-bucket",
                                              help="Create the bucket when missing (default: on the local target)."),
) -> None:
    """Send a dataset to Object Storage or a volume: only what changed, verified against its manifest."""
    from stager.data.datasets import DatasetSettings
    from stager.data.workflow import current_manifest, hash_cache
    from stager.storage.buckets import ensure_bucket
    from stager.storage.credentials import resolve_settings
    from stager.storage.s3 import S3Location, make_client
    from stager.storage.sync import sync_dataset

    settings = DatasetSettings.resolve(path, name=name)
    if dest.startswith("volume://"):
        _sync_volume(settings, dest.removeprefix("volume://"), target=target, region=region, size_gb=size_gb,
                     delete=delete, dry_run=dry_run)
        return
    location = S3Location.parse(dest)
    manifest = current_manifest(settings, say=_err)
    s3, close = resolve_settings(target, location, endpoint_url=endpoint_url)
    try:
        client = make_client(s3)
        if (target == "local" and endpoint_url is None) if create_bucket is None else create_bucket:
            ensure_bucket(client, location.bucket, say=_err)
        with hash_cache() as cache:
            result = sync_dataset(path, manifest, location, client, delete=delete, dry_run=dry_run,
                                  say=_err, cache=cache)
    finally:
        close()
    verb = "would send" if dry_run else "sent"
    typer.echo(f"{verb} {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), {result.skipped} "
               f"unchanged, {len(result.deleted)} deleted; dataset {manifest.digest} at {location}")


def _sync_volume(settings, label: str, *, target: str, region: str, size_gb: int, delete: bool,
                 dry_run: bool) -> None:
    """Copy the dataset onto a Block Storage volume through a short-lived staging instance."""
    from stager.cloud import open_target
    from stager.data.workflow import current_manifest
    from stager.errors import UsageError
    from stager.ids import new_id
    from stager.storage.volume import sync_to_volume

    if dry_run:
        raise UsageError("--dry-run is not supported for volume:// destinations (the volume must be attached to "
                         "be compared)")
    manifest = current_manifest(settings, say=_err)
    with open_target(target) as opened:
        result = sync_to_volume(opened, settings.path, manifest, label=label, region=region, size_gb=size_gb,
                                run_id=new_id("d"), delete=delete, say=_err)
    typer.echo(f"sent {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), {result.skipped} "
               f"unchanged, {len(result.deleted)} deleted; dataset {manifest.digest} on volume {result.volume.label} "
               f"({result.volume.id})")


@app.command()
def pull(
    src: str = typer.Argument(..., help="s3://bucket/prefix written by `stager data sync`"),
    dest: Path = typer.Argument(..., help="The folder to fill."),
    target: str = _TARGET,
    endpoint_url: str | None = _ENDPOINT,
) -> None:
    """Fetch a synced dataset, every file checked against the manifest stored with it."""
    from stager.data.workflow import hash_cache
    from stager.storage.credentials import resolve_settings
    from stager.storage.pull import pull_dataset
    from stager.storage.s3 import S3Location, make_client

    location = S3Location.parse(src)
    s3, close = resolve_settings(target, location, endpoint_url=endpoint_url)
    try:
        with hash_cache() as cache:
            result = pull_dataset(location, dest, make_client(s3), say=_err, cache=cache)
    finally:
        close()
    typer.echo(f"pulled {len(result.sent)} file(s) ({result.bytes_sent / 1024**2:.1f} MB), {result.skipped} already "
               f"present; all verified into {dest}")
