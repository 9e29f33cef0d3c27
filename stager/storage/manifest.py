"""Dataset manifests: exactly what a run trained on, as content.

A manifest lists every file of a dataset (relative path, size, sha256), the
per-split statistics validation measured, the validation result, and any
external sources with their pinned hashes. Its **digest** is the dataset's
identity: a sha256 over the file list (paths, sizes, content hashes). The
statistics, the validation result and the creation time are left out, so the
same bytes are the same dataset whether or not, and however, they were
validated.

Files whose name starts with a dot (at any depth) are not part of a dataset:
they are editor, OS and stager bookkeeping (``.DS_Store``, ``.stager``,
partial downloads). Symbolic links are followed; special files are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from stager.errors import UsageError
from stager.hashing import sha256_file
from stager.storage.hashcache import HashCache

__all__ = ["MANIFEST_VERSION", "FileEntry", "Manifest", "ManifestDiff", "ManifestStore", "new_manifest", "scan_files"]

MANIFEST_VERSION = 1
_HASH_THREADS = min(8, os.cpu_count() or 2)  # hashlib releases the GIL: reading and hashing overlap


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the dataset root, POSIX separators
    size: int  # bytes
    sha256: str  # hex digest of the content


@dataclass(frozen=True)
class ManifestDiff:
    added: tuple[str, ...]  # paths only in the newer manifest
    removed: tuple[str, ...]  # paths only in the older one
    changed: tuple[str, ...]  # paths in both with different content

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class Manifest:
    name: str  # the dataset's name (a pipeline's data.<name>, else the folder's name)
    files: tuple[FileEntry, ...]  # sorted by path
    splits: dict = field(default_factory=dict)  # per-split statistics from validation (JSON-safe)
    validation: dict | None = None  # the validation summary: ok, findings per level, checks run
    sources: tuple[dict, ...] = ()  # external sources: {url, path, sha256}
    created: str = ""  # UTC ISO time the manifest was made
    root: str | None = None  # the folder it describes, where it was made (informational)

    @property
    def digest(self) -> str:
        """The dataset's identity: sha256 of the canonical file list."""
        content = {"version": MANIFEST_VERSION, "files": [[f.path, f.size, f.sha256] for f in self.files]}
        return hashlib.sha256(_canonical(content).encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def diff(self, older: Manifest) -> ManifestDiff:
        """What changed from ``older`` to this manifest."""
        new, old = self.by_path(), older.by_path()
        return ManifestDiff(
            added=tuple(sorted(new.keys() - old.keys())),
            removed=tuple(sorted(old.keys() - new.keys())),
            changed=tuple(sorted(p for p in new.keys() & old.keys() if new[p].sha256 != old[p].sha256)),
        )

    def with_validation(self, splits: dict, validation: dict | None) -> Manifest:
        return Manifest(self.name, self.files, splits, validation, self.sources, self.created, self.root)

    def to_json(self) -> dict:
        return {"version": MANIFEST_VERSION, "digest": self.digest, "name": self.name, "created": self.created,
                "root": self.root, "files": [[f.path, f.size, f.sha256] for f in self.files],
                "splits": self.splits, "validation": self.validation, "sources": list(self.sources)}

    @classmethod
    def from_json(cls, data: dict, *, where: str = "manifest") -> Manifest:
        """Rebuild a manifest; its recorded digest must match its content.

        Raises:
            UsageError: an unknown version, a malformed body, or a digest that does
                not match (the file was edited or damaged).
        """
        try:
            if data.get("version") != MANIFEST_VERSION:
                raise UsageError(f"{where}: manifest version {data.get('version')!r} is not {MANIFEST_VERSION}")
            manifest = cls(
                name=str(data["name"]),
                files=tuple(FileEntry(str(p), int(s), str(h)) for p, s, h in data["files"]),
                splits=dict(data.get("splits") or {}),
                validation=data.get("validation"),
                sources=tuple(data.get("sources") or ()),
                created=str(data.get("created") or ""),
                root=data.get("root"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{where}: not a stager manifest ({type(exc).__name__}: {exc})") from None
        if data.get("digest") not in (None, manifest.digest):
            raise UsageError(f"{where}: the manifest's digest does not match its content; it was changed by hand "
                             "or damaged, so make it again with `stager data validate`")
        return manifest

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"

    def save(self, path: Path) -> None:
        """Write atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(self.dumps(), encoding="utf-8")
        os.replace(temp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest file.

        Raises:
            UsageError: missing, not JSON, or not a valid manifest.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: manifest not found") from None
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: cannot read the manifest ({exc})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}: not a stager manifest")
        return cls.from_json(data, where=str(path))


def scan_files(root: Path, *, cache: HashCache | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[FileEntry, ...]:
    """Every dataset file under ``root`` with its size and sha256, sorted by path.

    ``progress(done_bytes, total_bytes)`` is called as files are hashed.

    Raises:
        UsageError: ``root`` is missing, not a folder, or holds no files; or a file
            cannot be read (named).
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such dataset folder" if not root.exists() else f"{root}: not a folder")
    found: list[tuple[str, str, os.stat_result]] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError as exc:
                raise UsageError(f"{full}: cannot read ({exc.strerror or exc})") from None
            if not _is_regular(st):
                continue
            found.append((os.path.relpath(full, root).replace(os.sep, "/"), full, st))
    if not found:
        raise UsageError(f"{root}: the dataset folder holds no files")
    found.sort(key=lambda item: item[0])
    total = sum(st.st_size for _, _, st in found)
    done = 0

    def digest(item: tuple[str, str, os.stat_result]) -> str:
        _, full, st = item
        try:
            return cache.sha256(full, st) if cache else sha256_file(full)
        except OSError as exc:
            raise UsageError(f"{full}: cannot read ({exc.strerror or exc})") from None

    entries = []
    with ThreadPoolExecutor(_HASH_THREADS) as pool:
        for (rel, _, st), sha in zip(found, pool.map(digest, found)):
            entries.append(FileEntry(rel, st.st_size, sha))
            done += st.st_size
            if progress:
                progress(done, total)
    return tuple(entries)


class ManifestStore:
    """Each dataset's manifests under ``home/datasets/<name>/``: every version by digest, and the latest."""

    def __init__(self, home: Path) -> None:
        self.folder = Path(home) / "datasets"

    def save(self, manifest: Manifest) -> Path:
        folder = self.folder / _safe_name(manifest.name)
        path = folder / f"{manifest.digest}.json"
        manifest.save(path)
        manifest.save(folder / "latest.json")
        return path

    def latest(self, name: str) -> Manifest | None:
        path = self.folder / _safe_name(name) / "latest.json"
        return Manifest.load(path) if path.is_file() else None

    def get(self, name: str, digest: str) -> Manifest | None:
        path = self.folder / _safe_name(name) / f"{digest}.json"
        return Manifest.load(path) if path.is_file() else None


def new_manifest(name: str, root: Path, files: tuple[FileEntry, ...], *, sources: tuple[dict, ...] = ()) -> Manifest:
    return Manifest(name=name, files=files, sources=sources, root=str(Path(root).resolve()),
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return cleaned or "dataset"


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
