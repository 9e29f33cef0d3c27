"""Datasets on Block Storage volumes: filled over SSH from a short-lived staging instance, then kept.

A volume stays in its region between runs, so a GPU instance attaches it and
reads the data at disk speed instead of downloading it again. `sync_to_volume`
creates the volume (or reuses the one with that label), creates the cheapest
instance in the volume's region with its host key pinned, attaches the volume,
formats it when it holds no filesystem (Linode only; ``blkid`` decides, so a
volume with data is never formatted), mounts it, and copies the dataset onto it.

The copy is incremental. The volume keeps a record of what stager put there,
``.stager/manifest.json`` at its root: only files whose sha256 differs from the
record, or that it lacks, are sent, in batches each verified by ``sha256sum`` on
the instance and recorded as they land, so an interrupted sync resumes where it
stopped. Afterwards every file of the dataset is hashed on the volume; a file
that differs from the record (changed by hand) is sent again. With
``delete=True`` files stager put there earlier and the dataset no longer has are
removed; files stager did not put there are never touched.

Then the volume is unmounted and detached, and the staging instance is deleted
on every path out: success, failure, Ctrl-C and SIGTERM (teardown shielded). The
volume is kept: it carries no ttl tag, only ``stager``, ``run:<id>`` of the run
that made it and ``stager-dataset``.

On the local target the volume is a directory the emulator links into the
sandbox at ``../mnt/<label>`` from the home; that relative path means the same
for SFTP (jailed in the sandbox) and for commands, so it serves both.

Not supported: growing a volume (a volume smaller than asked for is refused),
several datasets on one volume (the dataset fills the volume's root), volumes
attached elsewhere, encryption settings, file ownership and timestamps.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stager.cloud import CloudError, CloudTarget, InstanceSpec, VolumeInfo, resource_label
from stager.cloud.tags import RUN_PREFIX, STAGER_TAG, stager_tags
from stager.cloud.teardown import delete_instance_surely
from stager.errors import Interrupted, JobFailed, UsageError
from stager.hashing import sha256_file
from stager.interrupts import interruptible, shielded
from stager.remote import Remote, RemoteError, SshTarget, host_key_cloud_config, in_dir, new_key_pair, quote
from stager.storage.manifest import FileEntry, Manifest

__all__ = ["DATA_VOLUME_TAG", "RECORD_PATH", "VolumeSyncFailed", "VolumeSyncResult", "VolumeTooSmall",
           "sync_to_volume", "usable_bytes"]

DATA_VOLUME_TAG = "stager-dataset"  # marks a volume kept for data (no ttl: it outlives the run)
RECORD_PATH = ".stager/manifest.json"  # on the volume: what stager put there
RECORD_VERSION = 1
STAGING_IMAGE = "linode/ubuntu24.04"
GIB = 1024**3
# ext4 spends ~2% of a volume on inode tables and the journal; 5% keeps a margin.
USABLE_FRACTION = 0.95
_BATCH_FILES = 2000  # files per verified batch: one SFTP session and one hashing command each
_BATCH_BYTES = 1 * GIB  # and at most this much data, so an interruption loses little
_ATTACH_TIMEOUT = 300.0
_COMMAND_TIMEOUT = 600.0  # formatting a large volume; hashing a batch
_SCRIPT_LIMIT = 64 * 1024  # characters per command line of paths
_MISSING = "missing"
_VOLUME_LABEL = re.compile(r"^[A-Za-z](?:(?!--|__)[A-Za-z0-9_-]){0,31}$")


class VolumeTooSmall(UsageError):
    """The dataset does not fit the volume asked for, or an existing volume is smaller than asked for."""


class VolumeSyncFailed(JobFailed):
    """The sync started and failed; the staging instance was deleted and the volume detached."""


@dataclass
class VolumeSyncResult:
    volume: VolumeInfo  # the volume after the sync: detached, ready for a GPU instance to attach
    sent: list[str]  # dataset paths sent this time
    skipped: int  # files already on the volume with the right sha256
    deleted: list[str]  # paths removed from the volume (delete=True only)
    bytes_sent: int
    created: bool = False  # True when this sync created the volume


def usable_bytes(size_gb: int) -> int:
    """How much data stager puts on a volume of ``size_gb`` GB (GiB, as Linode counts)."""
    return int(size_gb * GIB * USABLE_FRACTION)


def sync_to_volume(target: CloudTarget, root: Path, manifest: Manifest, *, label: str, region: str, size_gb: int,
                   run_id: str, delete: bool = False, say: Callable[[str], None] = print,
                   staging_plan: str = "g6-nanode-1", boot_timeout: float = 600,
                   staging_image: str = STAGING_IMAGE) -> VolumeSyncResult:
    """Make the volume labelled ``label`` hold the dataset ``manifest`` describes (files under ``root``).

    Everything that can be checked without paying is checked first: the label,
    the dataset's size against ``size_gb``, and an existing volume's region,
    size and attachment.

    Raises:
        UsageError: ``label`` is not a valid volume label.
        VolumeTooSmall: the dataset does not fit ``size_gb``, or the existing
            volume is smaller than ``size_gb`` (growing is not supported) or has
            too little free space left; nothing was created.
        VolumeSyncFailed: the existing volume is in another region, attached to
            an instance, or not stager's; the volume did not appear on the
            instance; a local file changed since the manifest was made; a file
            on the volume still differs after being sent again.
        RemoteError: SSH or a transfer failed (a `JobFailed`).
        CloudError, CapacityError, CredentialsError: from the cloud.
        Interrupted: Ctrl-C or SIGTERM; the staging instance was deleted first.
    """
    if not _VOLUME_LABEL.match(label or ""):
        raise UsageError(f"{label!r} is not a valid volume label: 1-32 letters, digits, '_' or '-', starting "
                         "with a letter, without '--' or '__'")
    if manifest.total_bytes > usable_bytes(size_gb):
        raise VolumeTooSmall(f"dataset {manifest.name} holds {_size(manifest.total_bytes)}, more than a "
                             f"{size_gb} GB volume takes ({_size(usable_bytes(size_gb))} after filesystem "
                             f"overhead); ask for at least {_needed_gb(manifest.total_bytes)} GB")
    sync = _VolumeSync(target, Path(root), manifest, label=label, region=region, size_gb=size_gb, run_id=run_id,
                       delete=delete, say=say, staging_plan=staging_plan, boot_timeout=boot_timeout,
                       staging_image=staging_image)
    existing = target.cloud.find_volume(label)
    if existing is not None:
        sync.check_reusable(existing)
    try:
        with interruptible():
            return sync.run(existing)
    except KeyboardInterrupt:
        raise Interrupted(f"sync to volume {label} interrupted; the staging instance was deleted and the "
                          "volume detached (files that landed are recorded: the next sync resumes)") from None


class _VolumeSync:
    """One sync: the staging instance's life and the copy, with the teardown that always follows."""

    def __init__(self, target: CloudTarget, root: Path, manifest: Manifest, *, label: str, region: str,
                 size_gb: int, run_id: str, delete: bool, say: Callable[[str], None], staging_plan: str,
                 boot_timeout: float, staging_image: str) -> None:
        self.target, self.cloud = target, target.cloud
        self.root, self.manifest = root, manifest
        self.label, self.region, self.size_gb, self.run_id = label, region, size_gb, run_id
        self.delete, self.say = delete, say
        self.staging_plan, self.staging_image, self.boot_timeout = staging_plan, staging_image, boot_timeout
        # Home-relative on the local target (see the module docstring); Linode mounts at /mnt/<label>.
        self.mount = f"../mnt/{label}" if target.sandboxed else f"/mnt/{label}"

    def check_reusable(self, volume: VolumeInfo) -> None:
        if STAGER_TAG not in volume.tags:
            raise VolumeSyncFailed(f"volume {self.label} (id {volume.id}) was not created by stager; use another "
                                   "label, or delete that volume if its contents are not needed")
        if volume.region != self.region:
            raise VolumeSyncFailed(f"volume {self.label} is in {volume.region}, not {self.region}; a volume only "
                                   f"attaches to instances in its own region: use {volume.region} or another label")
        if volume.size_gb < self.size_gb:
            raise VolumeTooSmall(f"volume {self.label} has {volume.size_gb} GB, less than the {self.size_gb} GB "
                                 "asked for; stager does not grow volumes: resize it yourself (Cloud Manager or "
                                 f"`linode-cli volumes resize {volume.id} --size {self.size_gb}`) or use another label")
        if volume.linode_id is not None:
            raise VolumeSyncFailed(f"volume {self.label} is attached to instance {volume.linode_id}; detach it "
                                   "(or wait for the run using it to end) and sync again")

    def run(self, existing: VolumeInfo | None) -> VolumeSyncResult:
        created = existing is None
        volume = existing or self.cloud.create_volume(
            label=self.label, region=self.region, size_gb=self.size_gb,
            tags=(STAGER_TAG, RUN_PREFIX + self.run_id, DATA_VOLUME_TAG))
        self.say(f"volume {self.label} (id {volume.id}, {volume.size_gb} GB in {volume.region}) "
                 + ("created" if created else "reused"))
        if volume.status != "active":
            volume = self.cloud.wait_volume(volume.id, "active", timeout=_ATTACH_TIMEOUT)
        client_key, host_key = new_key_pair(f"stager-{self.run_id}"), new_key_pair("stager-host")
        label = resource_label(self.run_id, "staging")
        hours = self.boot_timeout / 3600 + 1 + self.manifest.total_bytes / (10 * 1024**2) / 3600  # 10 MB/s at worst
        spec = InstanceSpec(label=label, plan=self.staging_plan, region=volume.region, image=self.staging_image,
                            authorized_keys=(client_key.public_line,), user_data=host_key_cloud_config(host_key),
                            tags=stager_tags(self.run_id, timedelta(hours=math.ceil(hours))))
        instance_id: int | None = None
        try:
            instance = self.cloud.create_instance(spec)
            instance_id = instance.id
            self.say(f"staging instance {label} (instance {instance.id}, {spec.plan} in {spec.region}) created")
            started = time.monotonic()
            instance = self.cloud.wait_instance(instance.id, "running", timeout=self.boot_timeout)
            self.cloud.attach_volume(volume.id, instance.id, timeout=_ATTACH_TIMEOUT)
            ssh = SshTarget(instance.ipv4, instance.ssh_port, "root", host_key.public_line, client_key)
            with Remote(ssh) as remote:
                remote.wait_until_ready(timeout=max(1.0, self.boot_timeout - (time.monotonic() - started)))
                outcome = self._with_volume_mounted(remote)
            volume = self.cloud.detach_volume(volume.id, timeout=_ATTACH_TIMEOUT)
            self.say(f"volume {self.label} detached")
        finally:
            with shielded(lambda name: self.say(f"{name} received: still deleting the staging instance, "
                                                "please wait")):
                self._teardown(label, instance_id, volume.id)
        sent, skipped, deleted, bytes_sent = outcome
        return VolumeSyncResult(volume, sent, skipped, deleted, bytes_sent, created)

    # -- on the instance ----------------------------------------------------------

    def _with_volume_mounted(self, remote: Remote) -> tuple[list[str], int, list[str], int]:
        if self.target.sandboxed:
            found = remote.run(f"test -d {quote(self.mount)} && echo yes || echo no", stream=False,
                               display="find the volume").stdout.strip()
            if found != "yes":
                raise VolumeSyncFailed(f"volume {self.label} did not appear on the staging instance at "
                                       f"{self.mount}")
            return self._copy(remote)
        out = remote.run(_mount_script(self.label, self.mount), stream=False, timeout=_COMMAND_TIMEOUT,
                         display=f"format (when blank) and mount volume {self.label}").stdout
        for line in out.splitlines():
            if line.strip():
                self.say(line.strip())
        unmounted = False
        try:
            outcome = self._copy(remote)
            remote.run(f"sync && umount {quote(self.mount)}", stream=False, timeout=_COMMAND_TIMEOUT,
                       display=f"unmount volume {self.label}")
            unmounted = True
            return outcome
        finally:
            if not unmounted:
                try:  # a failure is on its way out already: unmounting is a courtesy to the filesystem
                    remote.run(f"sync; umount {quote(self.mount)}", check=False, stream=False, timeout=60)
                except RemoteError:
                    pass

    def _copy(self, remote: Remote) -> tuple[list[str], int, list[str], int]:
        record = self._read_record(remote)
        wanted = self.manifest.files
        to_send = [f for f in wanted if record.get(f.path) != (f.size, f.sha256)]
        self._check_room(remote, to_send, record)
        skipped = len(wanted) - len(to_send)
        self.say(f"sending {len(to_send)} of {len(wanted)} files ({_size(sum(f.size for f in to_send))}) to "
                 f"volume {self.label}; {skipped} already there")
        sent = self._send(remote, to_send, record)
        actual = self._hashes(remote, [f.path for f in wanted])
        wrong = [f for f in wanted if actual[f.path] != f.sha256]
        if wrong:
            self.say(f"{len(wrong)} files on the volume differ from its record (changed on the volume?): "
                     "sending them again")
            sent += self._send(remote, wrong, record)
            actual = self._hashes(remote, [f.path for f in wrong])
            still = [f.path for f in wrong if actual[f.path] != f.sha256]
            if still:
                raise VolumeSyncFailed(f"{len(still)} files on volume {self.label} differ from the dataset after "
                                       f"being sent again, first {still[0]}")
        self.say(f"verified {len(wanted)} files on volume {self.label} by sha256")
        deleted: list[str] = []
        if self.delete:
            deleted = sorted(set(record) - {f.path for f in wanted})
            if deleted:
                self._remove(remote, deleted)
                for path in deleted:
                    del record[path]
                self.say(f"deleted {len(deleted)} files the dataset no longer has")
        self._write_record(remote, record, complete=True)
        by_path = self.manifest.by_path()
        unique = sorted(set(sent))
        return unique, len(wanted) - len(unique), deleted, sum(by_path[p].size for p in unique)

    def _send(self, remote: Remote, files: Sequence[FileEntry], record: dict[str, tuple[int, str]]) -> list[str]:
        """Send ``files`` in verified batches; record each batch on the volume as it lands."""
        sent: list[str] = []
        done, total = 0, sum(f.size for f in files)
        for batch in _batches(files):
            for entry in batch:  # refuse to put bytes on the volume that the manifest does not describe
                source = self.root / entry.path
                actual = sha256_file(source) if source.is_file() else None
                if actual != entry.sha256:
                    raise VolumeSyncFailed(
                        f"{source} changed since the dataset's manifest was made (sha256 "
                        f"{actual or 'missing'}, manifest {entry.sha256}); validate the dataset again and sync")
            with tempfile.TemporaryDirectory(prefix="stager-volume-") as folder:
                for entry in batch:  # a tree of links: put_dir sends exactly these files, verified as one
                    link = Path(folder, entry.path)
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to((self.root / entry.path).resolve())
                digests = remote.put_dir(Path(folder), self.mount)
            for entry in batch:
                if digests.get(entry.path) != entry.sha256:  # changed while being sent
                    raise VolumeSyncFailed(f"{self.root / entry.path} changed while it was being sent; "
                                           "validate the dataset again and sync")
                record[entry.path] = (entry.size, entry.sha256)
                sent.append(entry.path)
            self._write_record(remote, record, complete=False)
            done += sum(f.size for f in batch)
            if len(batch) < len(files):
                self.say(f"sent {len(sent)} of {len(files)} files ({_size(done)} of {_size(total)})")
        return sent

    def _read_record(self, remote: Remote) -> dict[str, tuple[int, str]]:
        """What stager put on the volume before: path -> (size, sha256); empty for a new or unreadable record."""
        path = posixpath.join(self.mount, RECORD_PATH)
        text = remote.run(f"if [ -f {quote(path)} ]; then cat {quote(path)}; fi", stream=False,
                          display="read the volume's record").stdout
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
            files = {str(p): (int(s), str(h)) for p, (s, h) in data["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.say(f"the record on volume {self.label} is unreadable: every file will be sent")
            return {}
        if data.get("dataset") not in (None, self.manifest.name):
            self.say(f"volume {self.label} held dataset {data.get('dataset')}; it now takes "
                     f"{self.manifest.name}" + ("" if self.delete else " (the old files stay: delete=False)"))
        # Paths from the volume are data from outside: never let one reach outside the volume.
        return {p: v for p, v in files.items() if _safe_relative(p)}

    def _write_record(self, remote: Remote, record: dict[str, tuple[int, str]], *, complete: bool) -> None:
        body = {"version": RECORD_VERSION, "dataset": self.manifest.name,
                # the dataset the volume holds in full; None while a sync is under way
                "digest": self.manifest.digest if complete else None,
                "run": self.run_id, "synced": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {p: list(v) for p, v in sorted(record.items())}}
        with tempfile.TemporaryDirectory(prefix="stager-volume-") as folder:
            local = Path(folder, "manifest.json")
            local.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
            remote.put_file(local, posixpath.join(self.mount, RECORD_PATH))

    def _check_room(self, remote: Remote, to_send: Sequence[FileEntry], record: dict[str, tuple[int, str]]) -> None:
        out = remote.run(f"df -P -k {quote(self.mount)} | tail -n 1", stream=False, display="free space").stdout
        try:
            free = int(out.split()[3]) * 1024
        except (IndexError, ValueError):
            return  # no df answer to judge by: the copy itself will say if the volume fills up
        needed = sum(f.size for f in to_send) - sum(record[f.path][0] for f in to_send if f.path in record)
        if needed > free:
            raise VolumeTooSmall(f"volume {self.label} has {_size(free)} free and the files to send need "
                                 f"{_size(needed)}; sync with delete to remove files the dataset no longer has, "
                                 "or use a larger volume")

    def _hashes(self, remote: Remote, paths: Sequence[str]) -> dict[str, str | None]:
        """sha256 of each path on the volume by the instance's ``sha256sum``; None when missing."""
        found: dict[str, str | None] = {}
        lines = [f"{{ sha256sum < {quote(posixpath.join(self.mount, p))} 2>/dev/null || echo {_MISSING}; }} "
                 f"| cut -c1-64" for p in paths]
        start = 0
        for batch in _script_batches(lines):
            out = remote.run("\n".join(batch), stream=False, timeout=_COMMAND_TIMEOUT,
                             display=f"sha256sum of {len(batch)} files on the volume").stdout.split()
            if len(out) != len(batch):
                raise VolumeSyncFailed(f"sha256sum answered {len(out)} lines for {len(batch)} files")
            for path, digest in zip(paths[start:start + len(batch)], out, strict=True):
                found[path] = None if digest == _MISSING else digest
            start += len(batch)
        return found

    def _remove(self, remote: Remote, paths: Sequence[str]) -> None:
        parents = sorted({posixpath.dirname(p) for p in paths} - {""})
        for batch in _script_batches([quote(p) for p in paths]):
            remote.run(in_dir(self.mount, "rm -f -- " + " ".join(batch)), stream=False,
                       display=f"remove {len(batch)} files from the volume")
        for batch in _script_batches([quote(p) for p in parents]):  # folders left empty go too
            remote.run(in_dir(self.mount, "rmdir -p -- " + " ".join(batch) + " 2>/dev/null; true"),
                       stream=False, display="remove empty folders from the volume")

    # -- teardown -------------------------------------------------------------------

    def _teardown(self, label: str, instance_id: int | None, volume_id: int) -> None:
        """Detach the volume (when still attached) and delete the staging instance, retrying; never raises."""
        try:
            current = self.cloud.get_volume(volume_id)
            if current is not None and current.linode_id is not None and current.linode_id == instance_id:
                self.cloud.detach_volume(volume_id, timeout=_ATTACH_TIMEOUT)
                self.say(f"volume {self.label} detached")
        except CloudError as exc:  # deleting the instance detaches it too
            self.say(f"detaching volume {self.label} failed ({exc}); deleting the instance frees it")
        delete_instance_surely(self.cloud, label=label, instance_id=instance_id, role="staging instance",
                               say=self.say)


def _mount_script(label: str, mount: str) -> str:
    """Wait for the device, format it only when ``blkid`` finds no filesystem at all, mount it.

    ``blkid -p`` probes the device itself (no cache): exit 2 means nothing was
    found; any other failure stops here rather than risk formatting data.
    """
    device = quote(f"/dev/disk/by-id/scsi-0Linode_Volume_{label}")
    target = quote(mount)
    return "\n".join([
        "set -u",
        f"i=0; while [ ! -b {device} ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done",
        f"[ -b {device} ] || {{ echo {quote(f'volume {label} did not appear as a device')} >&2; exit 1; }}",
        f"blkid -p {device} >/dev/null 2>&1; rc=$?",
        f"if [ $rc -eq 2 ]; then echo {quote(f'formatting volume {label} as ext4 (it had no filesystem)')}; "
        f"mkfs.ext4 -q -m 0 {device} || exit 1; "
        f"elif [ $rc -ne 0 ]; then echo \"blkid could not read the volume (exit $rc); not formatting it\" >&2; "
        "exit 1; fi",
        f"mkdir -p {target} && {{ mountpoint -q {target} || mount {device} {target}; }}",
    ])


def _batches(files: Sequence[FileEntry]) -> list[list[FileEntry]]:
    batches: list[list[FileEntry]] = []
    size = 0
    for entry in files:
        if not batches or len(batches[-1]) >= _BATCH_FILES or (batches[-1] and size + entry.size > _BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += entry.size
    return batches


def _script_batches(words: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = []
    size = 0
    for word in words:
        if not batches or size + len(word) > _SCRIPT_LIMIT:
            batches.append([])
            size = 0
        batches[-1].append(word)
        size += len(word) + 1
    return batches


def _safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p and p not in (".", "..") for p in parts)


def _needed_gb(nbytes: int) -> int:
    return max(10, math.ceil(nbytes / USABLE_FRACTION / GIB))  # Linode's smallest volume is 10 GB


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", GIB), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"

