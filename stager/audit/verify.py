"""Checking that a run is still what the ledger says it was: its event chain, its files, its checkpoints in storage.

The ledger's hash chain shows whether its own rows were edited; the artifacts it
records (path, size, sha256) show whether the files a run left behind, in its
folder and in Object Storage, were replaced or removed since. Each finding names
the event or the file and what differs, so it can be looked at by hand.

Not checked: files in the run's folder that the ledger never recorded, and a
chain cut short at its end (keep a copy of ``RunRecord.head_hash`` to detect that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stager.errors import StagerError
from stager.hashing import sha256_file
from stager.ledger import ArtifactRecord, Ledger

__all__ = ["ArtifactCheck", "ClientFor", "Verification", "object_storage_clients", "verify_all", "verify_run"]

# (target, bucket) -> a boto3 S3 client; on Linode each bucket has its own regional endpoint.
ClientFor = Callable[[str, str], object]

_CHUNK = 1 << 20
_SHOWN = 12  # hex digits of a sha256 shown in a finding: enough to tell two apart
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


@dataclass(frozen=True)
class ArtifactCheck:
    path: str  # relative to the run's folder, as recorded
    location: str  # "local" or "s3://bucket/key"
    problems: tuple[str, ...] = ()  # what differs from the ledger; empty when intact
    checked_local: bool = False  # the copy in the run's folder was compared
    checked_remote: bool = False  # the object in storage was re-hashed

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Verification:
    run_id: str
    events: int  # length of the run's hash chain
    chain_problems: tuple[str, ...]  # from Ledger.verify_chain, each naming an event seq or a table row
    artifacts: tuple[ArtifactCheck, ...]  # one per recorded artifact, in recorded order
    not_checked: tuple[str, ...] = field(default=())  # what could not be looked at, and why (not findings)

    @property
    def findings(self) -> list[str]:
        """Every difference found, one line each: ledger rows first, then files."""
        return [f"ledger {p}" for p in self.chain_problems] + [p for a in self.artifacts for p in a.problems]

    @property
    def intact(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """One line: intact with what was checked, or how many findings."""
        if not self.intact:
            return f"{self.run_id} CHANGED ({len(self.findings)} finding(s))"
        checked = sum(1 for a in self.artifacts if a.checked_local or a.checked_remote)
        remote = sum(1 for a in self.artifacts if a.checked_remote)
        tail = f", {remote} of them in object storage" if remote else ""
        return f"{self.run_id} intact (chain of {self.events} events, {checked} artifacts checked{tail})"

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "intact": self.intact, "events": self.events, "findings": self.findings,
                "chain_problems": list(self.chain_problems), "not_checked": list(self.not_checked),
                "artifacts": [{"path": a.path, "location": a.location, "intact": a.intact,
                               "checked_local": a.checked_local, "checked_remote": a.checked_remote,
                               "problems": list(a.problems)} for a in self.artifacts]}


def verify_run(ledger: Ledger, run_id: str, *, runs_dir: Path, s3_client_for: ClientFor | None) -> Verification:
    """Check one run (``run_id`` may be a unique start of the id): its chain, and every artifact it recorded.

    Local copies are looked for in ``runs_dir/<run id>/``; objects in storage are
    downloaded through ``s3_client_for(target, bucket)`` and re-hashed. With no
    ``s3_client_for`` they are not checked, which the result says.

    Raises:
        UsageError: no run matches ``run_id``, or several do.
    """
    chain = ledger.verify_chain(run_id)
    notes: list[str] = []
    try:
        record = ledger.run(run_id)
    except ValueError as exc:  # an event's data no longer parses: the chain check has named it
        exact = next((s.id for s in ledger.runs() if s.id.startswith(run_id)), run_id)
        return Verification(exact, ledger.chain_length(exact), tuple(chain), (),
                            (f"artifacts not checked: the run's record cannot be read ({exc})",))
    folder = Path(runs_dir) / record.id
    if record.artifacts and not folder.is_dir():
        notes.append(f"local files not checked: no folder {folder} (give --runs-dir where the run was started)")
    clients = _Clients(record.target, s3_client_for, notes)
    checks = tuple(_check(artifact, folder if folder.is_dir() else None, clients, notes)
                   for artifact in record.artifacts)
    return Verification(record.id, ledger.chain_length(record.id), tuple(chain), checks, tuple(dict.fromkeys(notes)))


def verify_all(ledger: Ledger, *, runs_dir: Path, s3_client_for: ClientFor | None) -> list[Verification]:
    """``verify_run`` for every run in the ledger, newest first."""
    return [verify_run(ledger, summary.id, runs_dir=runs_dir, s3_client_for=s3_client_for)
            for summary in ledger.runs()]


@contextmanager
def object_storage_clients(home: Path | None = None) -> Iterator[ClientFor]:
    """A ``s3_client_for`` making one client per target and bucket, the way ``stager run`` makes them.

    On leaving, whatever the clients needed (an emulator started for a ``local``
    target) is stopped.
    """
    from stager.storage.credentials import resolve_settings
    from stager.storage.s3 import S3Location, make_client

    made: dict[tuple[str, str], object] = {}
    closers: list[Callable[[], None]] = []

    def client_for(target: str, bucket: str) -> object:
        if (target, bucket) not in made:
            settings, close = resolve_settings(target, S3Location.parse(f"s3://{bucket}"), home=home)
            closers.append(close)
            made[target, bucket] = make_client(settings)
        return made[target, bucket]

    try:
        yield client_for
    finally:
        for close in reversed(closers):
            close()


class _Clients:
    """The run's clients by bucket; a client that cannot be made is said once in the notes."""

    def __init__(self, target: str, client_for: ClientFor | None, notes: list[str]) -> None:
        self.target = target
        self.client_for = client_for
        self.notes = notes
        self.made: dict[str, object | None] = {}

    def get(self, bucket: str) -> object | None:
        if self.client_for is None:
            self.notes.append("object storage not checked: no client given")
            return None
        if bucket not in self.made:
            try:
                self.made[bucket] = self.client_for(self.target, bucket)
            except StagerError as exc:
                self.made[bucket] = None
                self.notes.append(f"object storage not checked for s3://{bucket}: {exc}")
        return self.made[bucket]


def _check(artifact: ArtifactRecord, folder: Path | None, clients: _Clients, notes: list[str]) -> ArtifactCheck:
    problems: list[str] = []
    local = folder is not None
    if local:
        problem = _check_local(artifact, folder / artifact.path)
        if problem:
            problems.append(problem)
    remote = False
    if artifact.location.startswith("s3://"):
        bucket, _, key = artifact.location[len("s3://"):].partition("/")
        client = clients.get(bucket)
        if client is not None:
            problem, remote = _check_object(artifact, client, bucket, key, notes)
            if problem:
                problems.append(problem)
    return ArtifactCheck(artifact.path, artifact.location, tuple(problems), local, remote)


def _check_local(artifact: ArtifactRecord, path: Path) -> str | None:
    name = artifact.path
    if not path.is_file():
        return f"{name}: missing from {path.parent} (recorded {artifact.size} bytes, sha256 {_short(artifact.sha256)})"
    size = path.stat().st_size
    if size != artifact.size:  # a different size is a different file: no need to hash it
        return f"{name}: size differs from the ledger (recorded {artifact.size} bytes, found {size})"
    found = sha256_file(path)
    if found != artifact.sha256:
        return _differs(name, artifact.sha256, found)
    return None


def _check_object(artifact: ArtifactRecord, client, bucket: str, key: str,
                  notes: list[str]) -> tuple[str | None, bool]:
    """(the finding or None, whether the object was read)."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = artifact.location
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256()
        size = 0
        for chunk in answer["Body"].iter_chunks(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            return f"{where}: missing from object storage (recorded as {artifact.path})", True
        notes.append(f"{where}: not checked ({code or exc})")
        return None, False
    except BotoCoreError as exc:
        notes.append(f"{where}: not checked ({exc})")
        return None, False
    if digest.hexdigest() != artifact.sha256:
        return _differs(where, artifact.sha256, digest.hexdigest(), size=(artifact.size, size)), True
    return None, True


def _differs(name: str, recorded: str, found: str, *, size: tuple[int, int] | None = None) -> str:
    sizes = f"; {size[0]} bytes recorded, {size[1]} found" if size and size[0] != size[1] else ""
    return f"{name}: sha256 differs from the ledger (recorded {_short(recorded)}, found {_short(found)}{sizes})"


def _short(digest: str) -> str:
    return f"{digest[:_SHOWN]}..."
