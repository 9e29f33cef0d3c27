"""A record of every image build, kept in the state directory until the ledger adopts it.

``$STAGER_HOME/images/builds/<build_id>.json`` holds what was built, from which
recipe hash, on which target, how long it took and what it cost (estimated by
Linode's rule: whole hours, rounded up); ``<build_id>.log`` beside it holds the
streamed output. A cache hit is recorded too, as ``reused``. Nothing secret is
written: no tokens, keys or passwords.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from stager.ids import new_id

__all__ = ["BuildRecord", "BuildStore", "new_build_id"]


def new_build_id(now: datetime | None = None) -> str:
    """``b<UTC yyyymmdd-hhmmss>-<4 hex>``: sortable by time, unique, a valid label part."""
    return new_id("b", now)


@dataclass
class BuildRecord:
    build_id: str
    recipe: str  # the recipe file as given
    recipe_name: str
    recipe_hash: str  # full hex sha256 (the image carries its first 40 digits as a tag)
    target: str  # local | linode
    status: str = "running"  # running | succeeded | reused | failed | aborted
    image_id: str | None = None
    image_size_mb: int | None = None
    builder_plan: str | None = None
    builder_region: str | None = None
    builder_instance: int | None = None  # id of the builder instance, when one was created
    builder_deleted: bool | None = None  # whether stager saw the builder deleted
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    finished: str | None = None
    duration_s: float | None = None
    billed_hours: int | None = None  # Linode's rule: started hours of the builder
    estimated_usd: float | None = None
    error: str | None = None  # the one-line error of a failed build

    @classmethod
    def from_json(cls, data: dict) -> BuildRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class BuildStore:
    """The build records under ``home/images/builds``."""

    def __init__(self, home: Path) -> None:
        self.folder = Path(home) / "images" / "builds"

    def log_path(self, build_id: str) -> Path:
        return self.folder / f"{build_id}.log"

    def save(self, record: BuildRecord) -> Path:
        """Write ``record`` atomically (a crash leaves the old or the new one, never half)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{record.build_id}.json"
        temp = path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)
        return path

    def all(self) -> list[BuildRecord]:
        """Every readable record, oldest first; unreadable files are skipped.

        Ids and start times have whole seconds, so two builds started in the same second are
        ordered by when their records were last written (a build's at its end).
        """
        found = []
        for path in self.folder.glob("*.json") if self.folder.is_dir() else []:
            try:
                record = BuildRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
                found.append(((record.started, path.stat().st_mtime_ns, path.name), record))
            except (OSError, ValueError, TypeError):
                continue
        return [record for _, record in sorted(found, key=lambda item: item[0])]

    def for_image(self, image_id: str) -> list[BuildRecord]:
        return [r for r in self.all() if r.image_id == image_id]
