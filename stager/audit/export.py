"""One run in a tarball that can be audited, or reproduced, on another machine; and checking such a tarball.

The archive holds a single folder, ``<run id>/``::

    <run id>/EXPORT.json          the index: format, run id, stager version, time, every file's size and sha256
    <run id>/ledger.json          the run's ledger row, every event of its hash chain, and its typed records
    <run id>/pipeline.yaml        the resolved pipeline, secrets redacted
    <run id>/datasets/<name>/<digest>.json   each dataset's manifest, by the digest the ledger recorded
    <run id>/estimate.json, run.json, train.yaml, metrics.jsonl, logs/...   from the run's folder
    <run id>/checkpoints/...      unless left out; their locations and sha256 are in EXPORT.json either way

Members are written in a fixed order with normalised metadata (no owners, one
time, fixed modes), so the archive says nothing about the machine it was made on.
``check_export`` unpacks an archive without trusting it and checks every file
against the index, the hash chain against itself, and manifests and checkpoints
against the ledger extract.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from stager import __version__
from stager.errors import JobFailed, UsageError
from stager.hashing import sha256_file
from stager.ledger import Ledger
from stager.ledger.chain import GENESIS, event_hash
from stager.ledger.records import RunRecord
from stager.storage.manifest import Manifest, ManifestStore

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "INDEX_FILE", "LEDGER_FILE", "ExportResult", "check_export",
           "export_run", "ledger_extract", "recompute_chain"]

EXPORT_FORMAT = "stager-run-export"
EXPORT_VERSION = 1
INDEX_FILE = "EXPORT.json"
LEDGER_FILE = "ledger.json"
CHECKPOINTS = "checkpoints"
# What an export takes from the run's folder: these files, and everything under these folders.
_FOLDER_FILES = ("pipeline.yaml", "estimate.json", "run.json", "train.yaml", "metrics.jsonl")
_FOLDER_TREES = ("logs",)
_SHOWN = 12  # hex digits of a sha256 in a finding


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the archive written
    run_id: str
    files: int  # members, the index aside
    bytes: int  # their total size
    unavailable: tuple[str, ...]  # what the export should hold but could not find, with why


@dataclass(frozen=True)
class _Member:
    name: str  # relative to the run's folder in the archive
    path: Path | None = None  # a file on disk, or
    data: bytes | None = None  # bytes made here


def export_run(ledger: Ledger, run_id: str, *, runs_dir: Path, home: Path, output: Path,
               with_checkpoints: bool = True) -> ExportResult:
    """Write run ``run_id`` (a unique start of an id is fine) to the tar.gz ``output``, atomically.

    A run folder that is gone, or files missing from it, do not stop the export:
    what the ledger has is written and the rest is listed in ``unavailable``.

    Raises:
        UsageError: no run matches ``run_id``, or several do.
        OSError: ``output`` cannot be written.
    """
    record = ledger.run(run_id)
    folder = Path(runs_dir) / record.id
    unavailable: list[str] = []
    members = _folder_members(folder, with_checkpoints, unavailable)
    if not any(m.name == "pipeline.yaml" for m in members):
        spec = yaml.safe_dump(record.spec, sort_keys=False, default_flow_style=False)
        members.append(_Member("pipeline.yaml", data=spec.encode()))
    members += _manifest_members(record, ManifestStore(home), unavailable)
    members.append(_Member(LEDGER_FILE, data=_json_bytes(ledger_extract(ledger, record))))
    checkpoints = _checkpoint_list(record, members, with_checkpoints, unavailable)
    members.sort(key=lambda m: m.name)
    index = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "run_id": record.id, "stager_version": __version__,
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "with_checkpoints": with_checkpoints, "files": [], "checkpoints": checkpoints,
             "unavailable": unavailable}
    stamp = int(record.created.timestamp())
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=stamp) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in members:
                index["files"].append(_add(tar, f"{record.id}/{member.name}", member, stamp))
            # The index last: it holds the hashes of exactly the bytes written above.
            _add(tar, f"{record.id}/{INDEX_FILE}", _Member(INDEX_FILE, data=_json_bytes(index)), stamp)
        os.replace(temp, output)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return ExportResult(output, record.id, len(members), sum(f["size"] for f in index["files"]), tuple(unavailable))


def ledger_extract(ledger: Ledger, record: RunRecord) -> dict:
    """The run's row, its events as chained (seq, time, kind, data, prev_hash, hash), and its typed records."""
    return {"run_id": record.id, **ledger.chain_extract(record.id),
            "chain_problems": ledger.verify_chain(record.id),
            "record": record.to_json()}


def _folder_members(folder: Path, with_checkpoints: bool, unavailable: list[str]) -> list[_Member]:
    if not folder.is_dir():
        unavailable.append(f"the run's folder {folder} (give --runs-dir where the run was started)")
        return []
    members = []
    for name in _FOLDER_FILES:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            members.append(_Member(name, path))
        else:
            unavailable.append(f"{name} (not in {folder})")
    for tree in (*_FOLDER_TREES, *((CHECKPOINTS,) if with_checkpoints else ())):
        members += [_Member(rel, folder / rel) for rel in _tree(folder, tree)]
    return members


def _tree(folder: Path, top: str) -> list[str]:
    """Regular files under ``folder/top``, relative to ``folder``, sorted; links and dot files left out."""
    found = []
    for parent, dirs, files in os.walk(folder / top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(parent, d)))
        for name in files:
            path = Path(parent) / name
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                found.append(path.relative_to(folder).as_posix())
    return sorted(found)


def _manifest_members(record: RunRecord, store: ManifestStore, unavailable: list[str]) -> list[_Member]:
    members = {}
    for dataset in record.datasets:
        name = f"datasets/{_safe(dataset.name)}/{dataset.digest}.json"
        manifest = store.get(dataset.name, dataset.digest)
        if manifest is None:
            unavailable.append(f"{name} (manifest {dataset.digest[:_SHOWN]} of dataset {dataset.name} is not in "
                               f"{store.folder})")
        else:
            members[name] = _Member(name, data=manifest.dumps().encode())
    return list(members.values())


def _checkpoint_list(record: RunRecord, members: list[_Member], included: bool, unavailable: list[str]) -> list:
    """Every checkpoint the ledger recorded: where it is kept, its size and sha256, and whether it is enclosed."""
    present = {m.name for m in members}
    listed = []
    for artifact in record.artifacts:
        if not artifact.path.startswith(f"{CHECKPOINTS}/"):
            continue
        inside = included and artifact.path in present
        if included and not inside:
            unavailable.append(f"{artifact.path} (recorded in the ledger, not in the run's folder; kept at "
                               f"{artifact.location})")
        listed.append({"path": artifact.path, "location": artifact.location, "size": artifact.size,
                       "sha256": artifact.sha256, "included": inside})
    return listed


class _HashingReader:
    """Hands tarfile the file's bytes and hashes exactly those (a file still growing is cut at its size)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, member: _Member, stamp: int) -> dict:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = stamp, 0o644, 0, 0, "", ""
    if member.data is not None:
        info.size = len(member.data)
        tar.addfile(info, io.BytesIO(member.data))
        return {"path": name, "size": info.size, "sha256": hashlib.sha256(member.data).hexdigest()}
    with open(member.path, "rb") as stream:
        info.size = os.fstat(stream.fileno()).st_size
        reader = _HashingReader(stream)
        tar.addfile(info, reader)
    return {"path": name, "size": info.size, "sha256": reader.digest.hexdigest()}


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return cleaned or "dataset"


# -- checking an export ------------------------------------------------------------------------------


def check_export(path: Path) -> list[str]:
    """Problems with the export ``path``, one line each; empty when every file and the chain check out.

    The archive is unpacked into a temporary folder by ``safe_extract`` (absolute
    names, ``..`` and links are refused before a byte is written), then every file
    is re-hashed against EXPORT.json, the hash chain in ledger.json is recomputed,
    and the manifests and enclosed checkpoints are compared with the ledger extract.
    """
    from stager.run.archive import safe_extract

    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    work = Path(tempfile.mkdtemp(prefix="stager-check-export-"))
    try:
        try:
            safe_extract(path, work / "x")
        except JobFailed as exc:  # UnsafeArchive included
            return [str(exc)]
        return _check_tree(work / "x", path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_tree(root: Path, archive: Path) -> list[str]:
    tops = sorted(os.listdir(root)) if root.is_dir() else []
    if len(tops) != 1 or not (root / tops[0]).is_dir():
        return [f"{archive}: expected one folder (the run's id) at the top, found {tops or 'nothing'}"]
    top = root / tops[0]
    try:
        index = json.loads((top / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{archive}: {tops[0]}/{INDEX_FILE} cannot be read ({exc})"]
    if not isinstance(index, dict) or index.get("format") != EXPORT_FORMAT or index.get("version") != EXPORT_VERSION:
        return [f"{archive}: {tops[0]}/{INDEX_FILE} is not a stager export index of version {EXPORT_VERSION}"]
    problems = _check_files(root, top, index)
    problems += _check_ledger(top, index)
    return problems


def _check_files(root: Path, top: Path, index: dict) -> list[str]:
    problems = []
    listed = {str(entry.get("path")): entry for entry in index.get("files") or []}
    found = {p.relative_to(root).as_posix() for p in top.rglob("*") if p.is_file()}
    found.discard(f"{top.name}/{INDEX_FILE}")
    for name in sorted(found - listed.keys()):
        problems.append(f"{name}: in the archive but not in {INDEX_FILE}")
    for name, entry in listed.items():
        if name not in found:
            problems.append(f"{name}: listed in {INDEX_FILE} but not in the archive")
            continue
        size, digest = (root / name).stat().st_size, sha256_file(root / name)
        if size != entry.get("size") or digest != entry.get("sha256"):
            problems.append(f"{name}: differs from {INDEX_FILE} (recorded {entry.get('size')} bytes, sha256 "
                            f"{str(entry.get('sha256'))[:_SHOWN]}...; found {size} bytes, {digest[:_SHOWN]}...)")
    return problems


def _check_ledger(top: Path, index: dict) -> list[str]:
    where = f"{top.name}/{LEDGER_FILE}"
    try:
        extract = json.loads((top / LEDGER_FILE).read_text(encoding="utf-8"))
        run_id, events, record = extract["run_id"], extract["events"], extract["record"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{where}: cannot be read ({type(exc).__name__}: {exc})"]
    problems = [f"{where}: {p}" for p in recompute_chain(run_id, events)]
    if events and extract.get("head_hash") != events[-1].get("hash"):
        problems.append(f"{where}: head_hash is not the last event's hash")
    if run_id != index.get("run_id") or run_id != top.name:
        problems.append(f"{where}: run {run_id}, but the export is of {index.get('run_id')} in folder {top.name}")
    for dataset in record.get("datasets") or []:
        name = f"datasets/{_safe(dataset['name'])}/{dataset['digest']}.json"
        if (top / name).is_file():
            try:
                digest = Manifest.load(top / name).digest
            except UsageError as exc:
                problems.append(str(exc))
                continue
            if digest != dataset["digest"]:
                problems.append(f"{top.name}/{name}: manifest digest {digest[:_SHOWN]}... is not the ledger's "
                                f"{dataset['digest'][:_SHOWN]}...")
    recorded = {a["path"]: a["sha256"] for a in record.get("artifacts") or []}
    hashes = {str(e.get("path")): e.get("sha256") for e in index.get("files") or []}
    for checkpoint in index.get("checkpoints") or []:
        name = f"{top.name}/{checkpoint.get('path')}"
        if checkpoint.get("included") and hashes.get(name) != recorded.get(checkpoint.get("path")):
            problems.append(f"{name}: sha256 is not the one the ledger recorded")
    return problems


def recompute_chain(run_id: str, events: list[dict]) -> list[str]:
    """Problems with a run's events as exported: numbering, links and hashes, recomputed as the ledger does."""
    problems = []
    prev = GENESIS
    for number, event in enumerate(events, start=1):
        try:
            seq, prev_hash, digest = event["seq"], event["prev_hash"], event["hash"]
            expected = event_hash(prev, run_id=run_id, seq=seq, time=event["time"], kind=event["kind"],
                                  data=event["data"])
        except (KeyError, TypeError) as exc:
            problems.append(f"event {number}: malformed ({type(exc).__name__}: {exc})")
            break
        if seq != number:
            problems.append(f"event seq {seq}: expected seq {number} (an event was removed or inserted)")
        if prev_hash != prev:
            problems.append(f"event seq {seq}: prev_hash does not link to the event before it")
        if digest != expected:
            problems.append(f"event seq {seq} ({event['kind']}): content does not match its hash (edited)")
        prev = digest
    return problems
