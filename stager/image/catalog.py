"""stager's images on a target: which recipe made each, which pipelines use it, which can go.

An image belongs to stager when it carries the ``stager`` tag. Its recipe hash
is read from its ``recipe:<hash>`` tag; a pipeline uses an image when its
``image:`` names a recipe whose hash is that image's. Pipelines are the YAML
files under a folder (``pipelines/`` by default); a file that does not load is
skipped and reported, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stager import yamlio
from stager.cloud import ImageInfo, LinodeCloud
from stager.errors import ConfigError
from stager.image.fingerprint import TAG_PREFIX, hash_tag, recipe_hash
from stager.image.recipe import load_recipe
from stager.image.wheel import build_wheel

__all__ = ["ACCOUNT_IMAGE_LIMIT", "ImageEntry", "PipelineUse", "catalog", "pipeline_uses", "prune_plan"]

ACCOUNT_IMAGE_LIMIT = 25  # Linode's custom images per account


@dataclass(frozen=True)
class PipelineUse:
    pipeline: str  # the pipeline file
    recipe: str  # the recipe file it names
    tag: str  # the recipe hash tag the pipeline would use today


@dataclass
class ImageEntry:
    image: ImageInfo
    recipe_tag: str | None  # "recipe:<hash>", None for an image stager did not build from a recipe
    used_by: list[str] = field(default_factory=list)  # pipeline files whose image this is

    def to_json(self) -> dict:
        i = self.image
        return {"id": i.id, "label": i.label, "status": i.status, "size_mb": i.size_mb,
                "created": i.created.isoformat() if i.created else None, "description": i.description,
                "tags": list(i.tags), "recipe_hash": self.recipe_tag[len(TAG_PREFIX):] if self.recipe_tag else None,
                "used_by": self.used_by}


def pipeline_uses(folder: Path) -> tuple[list[PipelineUse], list[str]]:
    """The recipes the pipelines under ``folder`` name, and the problems of files that did not load."""
    uses: list[PipelineUse] = []
    problems: list[str] = []
    wheel_sha = None
    for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
        try:
            data = yamlio.load(path).data
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            continue
        recipe_path = _resolve(data["image"], path)
        try:
            recipe = load_recipe(recipe_path)
        except ConfigError as exc:
            problems.append(f"{path}: its image recipe does not load: {exc}")
            continue
        if recipe.stager == "wheel" and wheel_sha is None:
            wheel_sha = build_wheel().sha256
        tag = hash_tag(recipe_hash(recipe, wheel_sha if recipe.stager == "wheel" else None))
        uses.append(PipelineUse(str(path), str(recipe_path), tag))
    return uses, problems


def catalog(cloud: LinodeCloud, uses: list[PipelineUse]) -> list[ImageEntry]:
    """stager's private images, oldest first, each with the pipelines that use it."""
    entries = []
    for image in cloud.list_images(tag="stager"):
        tag = next((t for t in image.tags if t.startswith(TAG_PREFIX)), None)
        used_by = sorted({u.pipeline for u in uses if tag and u.tag == tag})
        entries.append(ImageEntry(image, tag, used_by))
    entries.sort(key=lambda e: e.image.created or datetime.min.replace(tzinfo=timezone.utc))
    return entries


def prune_plan(entries: list[ImageEntry], *, older_than: timedelta, now: datetime | None = None) -> list[ImageEntry]:
    """The images prune deletes: not used by any pipeline and older than ``older_than``."""
    now = now or datetime.now(timezone.utc)
    return [e for e in entries
            if not e.used_by and e.image.created is not None and now - e.image.created > older_than]


def _resolve(image: str, pipeline: Path) -> Path:
    """A pipeline's ``image:`` path: relative to the working folder, else to the pipeline's folder."""
    candidate = Path(image)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return pipeline.parent / candidate
