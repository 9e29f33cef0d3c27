"""``stager build-image`` and ``stager image list|show|rm|upload|prune``: gold images."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import typer

from stager.errors import UsageError

app = typer.Typer(help="List, inspect, upload and prune stager's gold images.", no_args_is_help=True,
                  add_completion=False)

_TARGET = typer.Option("local", "--target", "-t", help="local (the emulator on this machine) or linode "
                       "(LINODE_TOKEN).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
_PIPELINES = typer.Option(Path("pipelines"), "--pipelines", help="Folder of pipeline files whose images are in use.")


def _err(line: str) -> None:
    typer.echo(line, err=True)


def build_image(
    recipe: Path = typer.Argument(..., help="The recipe, e.g. images/gold.yaml."),
    target: str = _TARGET,
    force: bool = typer.Option(False, "--force", help="Build even when an image of this recipe exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Build a gold image from a recipe, or reuse the one its content hash names."""
    from stager.cloud import open_target
    from stager.home import stager_home
    from stager.image.builder import ImageBuilder
    from stager.image.recipe import load_recipe

    loaded = load_recipe(recipe)
    with open_target(target) as opened:
        result = ImageBuilder(opened, home=stager_home(), say=_err).build(loaded, force=force)
    if as_json:
        typer.echo(json.dumps({"image": result.image.id, "label": result.image.label, "reused": result.reused,
                               "recipe_hash": result.recipe_hash, "build_id": result.record.build_id}))
    else:
        typer.echo(result.image.id)


@app.command("list")
def list_images(target: str = _TARGET, as_json: bool = _JSON, pipelines: Path = _PIPELINES) -> None:
    """stager's images: id, label, recipe hash, size, created, the pipelines that use them."""
    from stager.cloud import open_target
    from stager.image.catalog import ACCOUNT_IMAGE_LIMIT, catalog, pipeline_uses

    uses, problems = pipeline_uses(pipelines)
    with open_target(target) as opened:
        entries = catalog(opened.cloud, uses)
        total = len(opened.cloud.list_images(private_only=True))
    for problem in problems:
        _err(f"warning: {problem}")
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "label", "recipe", "size", "created", "used by", box=None)
    for e in entries:
        i = e.image
        table.add_row(i.id, i.label, (e.recipe_tag or "-").removeprefix("recipe:")[:12], f"{i.size_mb} MB",
                      i.created.strftime("%Y-%m-%d %H:%M") if i.created else "-", ", ".join(e.used_by) or "-")
    # Off a terminal rich would cut cells to 80 columns: pipes and files get whole ids.
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    typer.echo(f"{len(entries)} stager images; {total} of the account's {ACCOUNT_IMAGE_LIMIT} custom images used")


@app.command()
def show(image_id: str = typer.Argument(..., help="e.g. private/12"), target: str = _TARGET,
         as_json: bool = _JSON, pipelines: Path = _PIPELINES) -> None:
    """One image in full, with the builds that made it."""
    from dataclasses import asdict

    from stager.cloud import open_target
    from stager.home import stager_home
    from stager.image.catalog import catalog, pipeline_uses
    from stager.image.records import BuildStore

    uses, _ = pipeline_uses(pipelines)
    with open_target(target) as opened:
        entry = next((e for e in catalog(opened.cloud, uses) if e.image.id == image_id), None)
    if entry is None:
        raise UsageError(f"no stager image {image_id} on the {target} target (see `stager image list`)")
    builds = [asdict(r) for r in BuildStore(stager_home()).for_image(image_id)]
    data = {**entry.to_json(), "builds": builds}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key == "builds":
            for build in value:
                typer.echo(f"build: {build['build_id']} {build['status']} from {build['recipe']} in "
                           f"{build['duration_s']} s, about ${build['estimated_usd']}")
        else:
            typer.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@app.command()
def rm(
    image_ids: list[str] = typer.Argument(..., help="Image ids, e.g. private/12."),
    target: str = _TARGET,
    pipelines: Path = _PIPELINES,
    force: bool = typer.Option(False, "--force", help="Delete even if a pipeline uses it."),
) -> None:
    """Delete stager images (refuses an image a pipeline uses, unless --force)."""
    from stager.cloud import open_target
    from stager.image.catalog import catalog, pipeline_uses

    uses, _ = pipeline_uses(pipelines)
    with open_target(target) as opened:
        entries = {e.image.id: e for e in catalog(opened.cloud, uses)}
        for image_id in image_ids:
            entry = entries.get(image_id)
            if entry is None:
                raise UsageError(f"no stager image {image_id} on the {target} target (see `stager image list`)")
            if entry.used_by and not force:
                raise UsageError(f"image {image_id} is used by {', '.join(entry.used_by)}; pass --force to delete it")
        for image_id in image_ids:
            opened.cloud.delete_image(image_id)
            typer.echo(f"deleted {image_id}")


@app.command()
def upload(
    path: Path = typer.Argument(..., help="A gzip-compressed raw disk image (.img.gz)."),
    label: str = typer.Option(..., "--label", help="The image's label."),
    region: str = typer.Option(..., "--region", help="A core region with Object Storage, e.g. us-east."),
    description: str = typer.Option("", "--description"),
    target: str = _TARGET,
) -> None:
    """Upload a disk image, checked for format and Linode's limits before anything is sent."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from stager.cloud import open_target
    from stager.image.upload import check_upload

    checked = check_upload(path)
    _err(f"{path}: gzip OK, {checked.compressed_bytes / 1024**2:.1f} MB compressed, "
         f"{checked.uncompressed_bytes / 1024**2:.1f} MB uncompressed")
    with open_target(target) as opened, Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("uploading", total=checked.compressed_bytes)
        image = opened.cloud.upload_image(
            path, label=label, region=region, description=description, tags=("stager", "uploaded"),
            progress=lambda sent, total: progress.update(task, completed=sent, total=total),
        )
    typer.echo(image.id)


@app.command()
def prune(
    older_than: int = typer.Option(30, "--older-than", min=0, help="Only images older than this many days."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted; delete nothing."),
    target: str = _TARGET,
    pipelines: Path = _PIPELINES,
) -> None:
    """Delete stager images no pipeline uses that are older than --older-than days."""
    from stager.cloud import open_target
    from stager.image.catalog import ACCOUNT_IMAGE_LIMIT, catalog, pipeline_uses, prune_plan

    uses, problems = pipeline_uses(pipelines)
    for problem in problems:
        _err(f"warning: {problem}")
    if problems and not dry_run:
        raise UsageError(f"{len(problems)} pipeline file(s) under {pipelines} do not load, so their images cannot be "
                         "told apart from unused ones; fix them or run with --dry-run")
    with open_target(target) as opened:
        doomed = prune_plan(catalog(opened.cloud, uses), older_than=timedelta(days=older_than))
        total = len(opened.cloud.list_images(private_only=True))
        for entry in doomed:
            verb = "would delete" if dry_run else "deleting"
            typer.echo(f"{verb} {entry.image.id} ({entry.image.label}, {entry.image.size_mb} MB)")
            if not dry_run:
                opened.cloud.delete_image(entry.image.id)
    left = total if dry_run else total - len(doomed)
    typer.echo(f"{len(doomed)} image(s) {'to delete' if dry_run else 'deleted'}; "
               f"{left} of the account's {ACCOUNT_IMAGE_LIMIT} custom images {'in use' if dry_run else 'left'}")
