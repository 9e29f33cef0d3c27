"""Block Storage volumes: each one a directory of contents that follows its attachments.

A volume's contents live in ``<state_dir>/volumes/<id>/``. Attached to an
instance whose sandbox is running, the directory appears inside the sandbox at
``/dev/disk/by-id/scsi-0Linode_Volume_<label>`` and ``/mnt/<label>`` (see
``stager.emulator.sandbox.layout``); detached, it stays where it is, so files
written on one instance are there on the next. Statuses move ``creating ->
active`` and ``resizing -> active`` after ``transition_s`` seconds.

Rules kept as Linode keeps them: labels unique, 10..10240 GB, grow-only resize,
same region as the instance, at most 8 volumes per instance, no delete while
attached. Not emulated: a size limit on the contents (a 10 GB volume takes what
the disk takes), formatting (the device is already a directory), encryption
(recorded only), configs (``config_id`` is ignored) and ``persist_across_boots``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stager.emulator import catalog
from stager.emulator.core.errors import BadRequest, NotFound, field_error, require
from stager.emulator.core.service import Service, check_tags

MIN_SIZE_GB, MAX_SIZE_GB, DEFAULT_SIZE_GB = 10, 10240, 20
MAX_PER_INSTANCE = 8
DEVICE_PREFIX = "/dev/disk/by-id/scsi-0Linode_Volume_"
PRICE_PER_GB_MONTH = 0.10
# The spec's pattern: a letter, then letters, digits, '-' or '_', never '--' or '__'.
_LABEL = re.compile(r"^[a-zA-Z](?:(?!--|__)[a-zA-Z0-9_-])+$")


@dataclass
class Volume:
    id: int
    label: str
    region: str
    size: int  # GB
    status: str  # creating | active | resizing
    created: str
    updated: str
    tags: list[str] = field(default_factory=list)
    linode_id: int | None = None
    linode_label: str | None = None
    encryption: str = "disabled"
    pending_event: int | None = None  # the started event a transition will finish

    @property
    def filesystem_path(self) -> str:
        return DEVICE_PREFIX + self.label

    def entity(self) -> dict:
        return {"id": self.id, "label": self.label, "type": "volume", "url": f"/v4/volumes/{self.id}"}

    def to_api(self) -> dict:
        return {
            "id": self.id, "label": self.label, "region": self.region, "size": self.size, "status": self.status,
            "created": self.created, "updated": self.updated, "tags": list(self.tags),
            "linode_id": self.linode_id, "linode_label": self.linode_label,
            "filesystem_path": self.filesystem_path, "hardware_type": "nvme", "encryption": self.encryption,
        }


def check_volume_label(label, field_name: str = "label") -> str:
    if not isinstance(label, str) or not 1 <= len(label) <= 32:
        raise field_error(field_name, "Label must be 1-32 characters")
    if not _LABEL.match(label):
        raise field_error(field_name, "Label must start with a letter and contain only letters, numbers, "
                          "dashes and underscores, without repeated dashes or underscores")
    return label


def _check_size(size, field_name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise field_error(field_name, "Size must be an integer number of GB")
    if not MIN_SIZE_GB <= size <= MAX_SIZE_GB:
        raise field_error(field_name, f"Size must be between {MIN_SIZE_GB} and {MAX_SIZE_GB} GB")
    return size


def volume_types() -> list[dict]:
    """What ``GET /volumes/types`` lists: one type, priced per GB-month."""
    return [{"id": "volume", "label": "Storage Volume",
             "price": {"hourly": round(PRICE_PER_GB_MONTH / 730, 5), "monthly": PRICE_PER_GB_MONTH},
             "region_prices": [], "transfer": 0}]


class VolumeService(Service):
    name = "volumes"
    transition_s = 0.05  # creating/resizing -> active

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self.volumes: dict[int, Volume] = {}

    # -- what other services use ------------------------------------------------

    def data_dir(self, volume_id: int) -> Path:
        """The volume's contents."""
        return self.backend.state_dir / "volumes" / str(volume_id)

    def attached_to(self, instance_id: int) -> list[Volume]:
        return [self._fresh(v) for v in self.volumes.values() if v.linode_id == instance_id]

    def detach_all(self, instance_id: int) -> None:
        """The instance is gone: its volumes stay, detached, with their contents."""
        for volume in self.attached_to(instance_id):
            self._unmount(volume)
            volume.linode_id = volume.linode_label = None
            volume.updated = self.backend.clock.stamp()

    # -- verbs ------------------------------------------------------------------

    def list_volumes(self) -> list[Volume]:
        return [self._fresh(v) for v in self.volumes.values()]

    def get_volume(self, volume_id: int) -> Volume:
        volume = self.volumes.get(volume_id)
        if volume is None:
            raise NotFound()
        return self._fresh(volume)

    def create_volume(self, body: dict) -> Volume:
        backend = self.backend
        label = check_volume_label(require(body, "label"))
        self._check_unique(label)
        size = _check_size(DEFAULT_SIZE_GB if body.get("size") is None else body["size"])
        tags = check_tags(body.get("tags"))
        encryption = body.get("encryption") or "disabled"
        if encryption not in ("enabled", "disabled"):
            raise field_error("encryption", "encryption must be 'enabled' or 'disabled'")
        region = body.get("region")
        instance = None
        if body.get("linode_id") is not None:
            instance = self._instance(body["linode_id"])
            if region is not None and region != instance.region:
                raise field_error("region", f"Linode {instance.label} is in {instance.region}, not {region}")
            region = instance.region
            self._check_room(instance)
        if region is None:
            raise field_error("region", "region is required when linode_id is not given")
        if catalog.region(region) is None:
            raise field_error("region", f"Region {region} does not exist")

        stamp = backend.clock.stamp()
        volume = Volume(id=backend.next_id("volume"), label=label, region=region, size=size, status="creating",
                        created=stamp, updated=stamp, tags=tags, encryption=encryption)
        path = self.data_dir(volume.id)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        self.volumes[volume.id] = volume
        event = backend.events.record("volume_create", volume.entity(), "started")
        if instance is not None:
            self._attach(volume, instance)
        self._transition(volume, event)
        return volume

    def update_volume(self, volume_id: int, body: dict) -> Volume:
        volume = self.get_volume(volume_id)
        label = volume.label
        if "label" in body and body["label"] != volume.label:
            label = check_volume_label(body["label"])
            self._check_unique(label)
        if "tags" in body:
            volume.tags = check_tags(body["tags"])
        if label != volume.label:  # the device path names the label: move the mount with it
            self._unmount(volume)
            volume.label = label
            self._mount(volume)
        volume.updated = self.backend.clock.stamp()
        self.backend.events.record("volume_update", volume.entity(), "notification")
        return volume

    def delete_volume(self, volume_id: int) -> None:
        volume = self.get_volume(volume_id)
        if volume.linode_id is not None:
            raise BadRequest(f"Volume {volume.label} is attached to Linode {volume.linode_label}; detach it first")
        self.backend.events.record("volume_delete", volume.entity(), "notification")
        del self.volumes[volume_id]
        shutil.rmtree(self.data_dir(volume_id), ignore_errors=True)

    def attach_volume(self, volume_id: int, body: dict) -> Volume:
        volume = self.get_volume(volume_id)
        instance = self._instance(require(body, "linode_id"))
        if volume.linode_id == instance.id:
            return volume  # a retried attach: already done
        if volume.linode_id is not None:
            raise BadRequest(f"Volume {volume.label} is already attached to Linode {volume.linode_label}; "
                             "detach it first")
        if volume.status != "active":
            raise BadRequest(f"Volume {volume.label} is {volume.status}; wait until it is active")
        if instance.region != volume.region:
            raise field_error("linode_id", f"Volume {volume.label} is in {volume.region} and Linode "
                              f"{instance.label} in {instance.region}; they must be in the same region")
        self._check_room(instance)
        event = self.backend.events.record("volume_attach", volume.entity(), "started",
                                           secondary=instance.entity())
        self._attach(volume, instance)
        self._finish_later(volume, event)
        return volume

    def detach_volume(self, volume_id: int) -> None:
        """Detach; a volume that is not attached is left as it is (a retried detach succeeds)."""
        volume = self.get_volume(volume_id)
        if volume.linode_id is None:
            return
        instance = self.backend.instances.instances.get(volume.linode_id)
        event = self.backend.events.record("volume_detach", volume.entity(), "started",
                                           secondary=instance.entity() if instance is not None else None)
        self._unmount(volume)
        volume.linode_id = volume.linode_label = None
        volume.updated = self.backend.clock.stamp()
        self._finish_later(volume, event)

    def resize_volume(self, volume_id: int, body: dict) -> Volume:
        volume = self.get_volume(volume_id)
        size = _check_size(require(body, "size"))
        if size <= volume.size:
            raise field_error("size", f"Volumes can only grow: {volume.label} is {volume.size} GB, "
                              f"so the new size must be more than that")
        if volume.status != "active":
            raise BadRequest(f"Volume {volume.label} is {volume.status}; wait until it is active")
        volume.size = size
        volume.status = "resizing"
        volume.updated = self.backend.clock.stamp()
        event = self.backend.events.record("volume_resize", volume.entity(), "started")
        self._transition(volume, event)
        return volume

    def clone_volume(self, volume_id: int, body: dict) -> Volume:
        source = self.get_volume(volume_id)
        label = check_volume_label(require(body, "label"))
        self._check_unique(label)
        backend = self.backend
        stamp = backend.clock.stamp()
        volume = Volume(id=backend.next_id("volume"), label=label, region=source.region, size=source.size,
                        status="creating", created=stamp, updated=stamp, tags=list(source.tags),
                        encryption=source.encryption)
        shutil.rmtree(self.data_dir(volume.id), ignore_errors=True)
        shutil.copytree(self.data_dir(source.id), self.data_dir(volume.id), symlinks=True)
        self.volumes[volume.id] = volume
        event = backend.events.record("volume_clone", source.entity(), "started", secondary=volume.entity())
        self._transition(volume, event)
        return volume

    # -- helpers ----------------------------------------------------------------

    def _fresh(self, volume: Volume) -> Volume:
        """``linode_label`` follows the instance's label, which may have changed since the attach."""
        if volume.linode_id is not None:
            instance = self.backend.instances.instances.get(volume.linode_id)
            if instance is not None:
                volume.linode_label = instance.label
        return volume

    def _check_unique(self, label: str) -> None:
        if any(v.label == label for v in self.volumes.values()):
            raise field_error("label", f"A volume labelled {label} already exists; labels must be unique")

    def _instance(self, linode_id):
        instance = self.backend.instances.instances.get(linode_id) if isinstance(linode_id, int) else None
        if instance is None:
            raise field_error("linode_id", f"Linode {linode_id} does not exist")
        return instance

    def _check_room(self, instance) -> None:
        if len(self.attached_to(instance.id)) >= MAX_PER_INSTANCE:
            raise field_error("linode_id", f"Linode {instance.label} already has {MAX_PER_INSTANCE} volumes "
                              "attached, the most a Linode can have")

    def _attach(self, volume: Volume, instance) -> None:
        volume.linode_id = instance.id
        volume.linode_label = instance.label
        volume.updated = self.backend.clock.stamp()
        self._mount(volume)

    def _mount(self, volume: Volume) -> None:
        host = self.backend.instances.host(volume.linode_id) if volume.linode_id is not None else None
        if host is not None:
            host.attach_volume(volume.label, self.data_dir(volume.id))

    def _unmount(self, volume: Volume) -> None:
        host = self.backend.instances.host(volume.linode_id) if volume.linode_id is not None else None
        if host is not None:
            host.detach_volume(volume.label)

    def _transition(self, volume: Volume, event) -> None:
        """``creating``/``resizing`` -> ``active`` later, finishing ``event``."""
        volume.pending_event = event.id
        backend = self.backend

        def done() -> None:
            with backend.lock:
                if self.volumes.get(volume.id) is not volume or volume.pending_event != event.id:
                    return
                volume.status = "active"
                volume.pending_event = None
                backend.events.finish(event)
                backend.persist()

        backend.scheduler.after(self.transition_s, done)

    def _finish_later(self, volume: Volume, event) -> None:
        backend = self.backend

        def done() -> None:
            with backend.lock:
                if event.status == "started":
                    backend.events.finish(event)
                    backend.persist()

        backend.scheduler.after(self.transition_s, done)

    # -- service plumbing -----------------------------------------------------------

    def to_state(self) -> dict:
        return {"volumes": [asdict(v) for v in self.volumes.values()]}

    def load(self, state: dict) -> None:
        self.volumes = {row["id"]: Volume(**row) for row in state.get("volumes", [])}

    def resume(self) -> None:
        """Transitions cut short by a restart end now; their events finish."""
        events = self.backend.events
        for volume in self.volumes.values():
            if volume.status in ("creating", "resizing"):
                volume.status = "active"
            if volume.pending_event is not None:
                event = events.events.get(volume.pending_event)
                if event is not None and event.status == "started":
                    events.finish(event)
                volume.pending_event = None
        for event in events.events.values():
            if event.action in ("volume_attach", "volume_detach") and event.status == "started":
                events.finish(event)

    def reset(self) -> None:
        self.volumes.clear()
        shutil.rmtree(self.backend.state_dir / "volumes", ignore_errors=True)
