"""Instances: each one a sandbox directory with a real SSH server on its own loopback address.

Statuses move as Linode's do (``provisioning -> booting -> running``,
``shutting_down -> offline``, ``rebooting -> running``), timed by the faults'
``provision_s`` / ``boot_s`` / ``shutdown_s``. SSH answers only while running.

Not emulated: backups, resize/migrate/rebuild/rescue, configs beyond the one
default profile, IPv6 traffic, stats, and any isolation between a sandbox and the
machine it runs on (see ``stager.emulator.sandbox``).
"""

from __future__ import annotations

import base64
import binascii
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stager.emulator import catalog
from stager.emulator.core.errors import (
    BadRequest,
    NotFound,
    RateLimited,
    field_error,
    require,
)
from stager.emulator.core.service import Service, check_label, check_tags

MAX_USER_DATA = 65535  # bytes before base64, Linode's metadata limit
SWAP_MB = 512


@dataclass
class Disk:
    id: int
    label: str
    filesystem: str  # ext4 | swap
    size: int  # MB
    created: str
    updated: str

    def to_api(self) -> dict:
        return {**asdict(self), "status": "ready", "disk_encryption": "disabled"}


@dataclass
class Instance:
    id: int
    label: str
    region: str
    type: str
    image: str | None
    status: str
    created: str
    updated: str
    address: str  # the loopback address the sandbox's SSH listens on
    tags: list[str] = field(default_factory=list)
    group: str = ""
    authorized_keys: list[str] = field(default_factory=list)
    user_data: str | None = None  # base64, as given
    private_address: str | None = None
    interfaces: list[dict] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    ssh_port: int | None = None  # set while SSH listens; 22 where it could bind there
    watchdog_enabled: bool = True
    host_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    generation: int = 0  # bumped by every action, so a stale timed transition is dropped

    def entity(self) -> dict:
        return {"id": self.id, "label": self.label, "type": "linode", "url": f"/v4/linode/instances/{self.id}"}

    def to_api(self) -> dict:
        plan = catalog.plan(self.type)
        ipv4 = [self.address] + ([self.private_address] if self.private_address else [])
        body = {
            "id": self.id, "label": self.label, "region": self.region, "type": self.type, "image": self.image,
            "status": self.status, "created": self.created, "updated": self.updated, "tags": list(self.tags),
            "group": self.group, "hypervisor": "kvm", "ipv4": ipv4, "ipv6": None,
            "specs": {"disk": plan.disk_mb, "memory": plan.memory_mb, "vcpus": plan.vcpus, "gpus": plan.gpus,
                      "transfer": plan.transfer_gb},
            "alerts": {"cpu": 90, "io": 10000, "network_in": 10, "network_out": 10, "transfer_quota": 80},
            "backups": {"available": False, "enabled": False,
                        "schedule": {"day": None, "window": None}},
            "watchdog_enabled": self.watchdog_enabled, "has_user_data": self.user_data is not None,
            "host_uuid": self.host_uuid, "capabilities": [], "lke_cluster_id": None, "placement_group": None,
            "disk_encryption": "disabled",
        }
        if self.ssh_port is not None and self.ssh_port != 22:
            body["ssh_port"] = self.ssh_port
        return body


def _decode_user_data(metadata) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise field_error("metadata", "metadata must be an object")
    user_data = metadata.get("user_data")
    if user_data is None:
        return None
    try:
        raw = base64.b64decode(user_data, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise field_error("metadata.user_data", "user_data must be base64-encoded") from None
    if len(raw) > MAX_USER_DATA:
        raise field_error("metadata.user_data", f"user_data must be at most {MAX_USER_DATA} bytes before encoding")
    return user_data


class InstanceService(Service):
    name = "instances"

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self.instances: dict[int, Instance] = {}
        self.hosts: dict[int, object] = {}  # instance id -> running SandboxHost

    # -- paths ----------------------------------------------------------------

    def root(self, instance_id: int) -> Path:
        """The sandbox's filesystem."""
        return self.backend.state_dir / "instances" / str(instance_id) / "fs"

    def _host_key_path(self, instance_id: int) -> Path:
        return self.backend.state_dir / "instances" / str(instance_id) / "host_key"

    # -- verbs ----------------------------------------------------------------

    def get_instance(self, instance_id: int) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None:
            raise NotFound()
        return instance

    def list_instances(self) -> list[Instance]:
        return list(self.instances.values())

    def create_instance(self, body: dict, token: str) -> Instance:
        backend = self.backend
        region_id = require(body, "region")
        region = catalog.region(region_id)
        if region is None:
            raise field_error("region", f"Region {region_id} does not exist")
        plan_id = require(body, "type")
        plan = catalog.plan(plan_id)
        if plan is None:
            raise field_error("type", f"A Linode type with id {plan_id} does not exist")
        image = body.get("image")
        if image is not None:
            backend.images.usable_image(image)
        root_pass = body.get("root_pass")
        if root_pass is not None and (not isinstance(root_pass, str) or not 7 <= len(root_pass) <= 128):
            raise field_error("root_pass", "Password must be between 7 and 128 characters")
        keys = body.get("authorized_keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise field_error("authorized_keys", "authorized_keys must be a list of SSH public keys")
        from stager.emulator.sandbox.ssh_server import parse_authorized_keys

        try:
            parse_authorized_keys(keys)
        except ValueError as exc:
            raise field_error("authorized_keys", str(exc)) from None
        if image is not None and not root_pass and not keys and not body.get("authorized_users"):
            raise field_error("root_pass", "root_pass, authorized_users or authorized_keys is required "
                              "when deploying an image")
        tags = check_tags(body.get("tags"))
        user_data = _decode_user_data(body.get("metadata"))
        firewall_id = body.get("firewall_id")
        if firewall_id is not None:
            backend.firewalls.get_firewall(firewall_id, field="firewall_id")
        interfaces = body.get("interfaces") or []
        if not isinstance(interfaces, list) or not all(isinstance(i, dict) and i.get("purpose") in
                                                       ("public", "vlan", "vpc") for i in interfaces):
            raise field_error("interfaces", "interfaces must be a list of {purpose: public|vlan|vpc}")
        label = body.get("label")
        if label is not None:
            check_label(label)
            if any(i.label == label for i in self.instances.values()):
                raise field_error("label", "Label must be unique among your linodes")
        if plan.gpus and not region.gpu:
            raise field_error("type", f"GPU plans are not available in {region_id}; "
                              "choose a region with the 'GPU Linodes' capability")
        wait = backend.rate_limiter.check("instance_create", token)
        if wait is not None:
            raise RateLimited(wait)
        if plan.gpus and not backend.faults.take_gpu_slot(region_id):
            raise BadRequest(f"No capacity for {plan_id} in {region_id}: GPU Linodes are sold out there for now; "
                             "try another region or retry later", "region")

        instance_id = backend.next_id("linode")
        stamp = backend.clock.stamp()
        block = backend.address_block
        instance = Instance(
            id=instance_id, label=label or f"linode{instance_id}", region=region_id, type=plan_id, image=image,
            status="provisioning", created=stamp, updated=stamp,
            address=f"127.{block}.{(instance_id >> 8) & 255}.{instance_id & 255}",
            tags=tags, group=body.get("group") or "", authorized_keys=list(keys), user_data=user_data,
            private_address=f"192.168.{128 + ((instance_id >> 8) & 127)}.{instance_id & 255}"
            if body.get("private_ip") else None,
            interfaces=list(interfaces),
        )
        if image is not None:
            main = plan.disk_mb - SWAP_MB
            instance.disks = [
                Disk(backend.next_id("disk"), f"{image} Disk", "ext4", main, stamp, stamp),
                Disk(backend.next_id("disk"), f"{SWAP_MB} MB Swap Image", "swap", SWAP_MB, stamp, stamp),
            ]
        self._prepare_sandbox(instance)
        self.instances[instance_id] = instance
        if firewall_id is not None:
            backend.firewalls.add_device(firewall_id, instance)
        backend.billing.open(instance_id, instance.label, plan_id, region_id)
        event = backend.events.record("linode_create", instance.entity(), "started")
        booted = body.get("booted", image is not None)
        self._after(instance, backend.faults.provision_s,
                    lambda: self._provisioned(instance, event, booted))
        return instance

    def update_instance(self, instance_id: int, body: dict) -> Instance:
        instance = self.get_instance(instance_id)
        if "label" in body:
            check_label(body["label"])
            if any(i.label == body["label"] and i.id != instance_id for i in self.instances.values()):
                raise field_error("label", "Label must be unique among your linodes")
            instance.label = body["label"]
        if "tags" in body:
            instance.tags = check_tags(body["tags"])
        if "group" in body:
            instance.group = body["group"] or ""
        if "watchdog_enabled" in body:
            instance.watchdog_enabled = bool(body["watchdog_enabled"])
        instance.updated = self.backend.clock.stamp()
        self.backend.events.record("linode_update", instance.entity(), "notification")
        return instance

    def delete_instance(self, instance_id: int) -> None:
        instance = self.get_instance(instance_id)
        self.backend.events.record("linode_delete", instance.entity(), "notification")
        self._remove(instance)

    def vanish(self, instance_id: int) -> None:
        """Fault: the instance is gone, as after a host failure; no event, no goodbye."""
        self._remove(self.get_instance(instance_id))

    def boot(self, instance_id: int) -> None:
        instance = self.get_instance(instance_id)
        if instance.status not in ("offline",):
            raise BadRequest(f"Linode {instance.label} is {instance.status}; only an offline Linode can be booted")
        self._boot(instance, "linode_boot")

    def reboot(self, instance_id: int) -> None:
        instance = self.get_instance(instance_id)
        if instance.status not in ("running", "offline"):
            raise BadRequest(f"Linode {instance.label} is {instance.status} and cannot be rebooted now")
        self._stop_host(instance)
        self._boot(instance, "linode_reboot", status="rebooting")

    def shutdown(self, instance_id: int) -> None:
        instance = self.get_instance(instance_id)
        if instance.status == "offline":
            return
        self._stop_host(instance)
        instance.status = "shutting_down"
        instance.generation += 1
        event = self.backend.events.record("linode_shutdown", instance.entity(), "started")

        def done() -> None:
            instance.status = "offline"
            self.backend.events.finish(event)

        self._after(instance, self.backend.faults.shutdown_s, done)

    # -- transitions ----------------------------------------------------------

    def _after(self, instance: Instance, delay: float, action) -> None:
        """Run ``action`` later, unless the instance was deleted or acted on meanwhile."""
        generation = instance.generation
        backend = self.backend

        def guarded() -> None:
            with backend.lock:
                if self.instances.get(instance.id) is not instance or instance.generation != generation:
                    return
                action()
                backend.persist()

        backend.scheduler.after(delay, guarded)

    def _provisioned(self, instance: Instance, event, booted: bool) -> None:
        if not booted:
            instance.status = "offline"
            self.backend.events.finish(event)
            return
        instance.status = "booting"
        self._after(instance, self.backend.faults.boot_s, lambda: self._booted(instance, event))

    def _boot(self, instance: Instance, action: str, status: str = "booting") -> None:
        instance.status = status
        instance.generation += 1
        event = self.backend.events.record(action, instance.entity(), "started")
        self._after(instance, self.backend.faults.boot_s, lambda: self._booted(instance, event))

    def _booted(self, instance: Instance, event) -> None:
        if self.backend.faults.take_boot_failure():
            instance.status = "offline"
            self.backend.events.finish(event, failed=True, message="Injected fault: the boot failed")
            return
        self._start_host(instance)
        instance.status = "running"
        self.backend.events.finish(event)

    # -- sandboxes ------------------------------------------------------------

    def _prepare_sandbox(self, instance: Instance) -> None:
        from stager.emulator.sandbox import (
            host_key_from_user_data,
            new_host_key,
            restore_disk,
        )

        root = self.root(instance.id)
        if root.parent.exists():
            shutil.rmtree(root.parent)
        root.mkdir(parents=True)
        if instance.image and instance.image.startswith("private/"):
            restore_disk(self.backend.images.disk_dir(instance.image), root)
        try:
            key = host_key_from_user_data(instance.user_data)
        except ValueError as exc:
            raise field_error("metadata.user_data", str(exc)) from None
        key = key or new_host_key()
        path = self._host_key_path(instance.id)
        key.write_private_key_file(str(path))
        path.chmod(0o600)

    def _start_host(self, instance: Instance) -> None:
        import paramiko

        from stager.emulator.sandbox import SandboxHost

        self._stop_host(instance)
        key = _load_key(self._host_key_path(instance.id), paramiko)
        host = SandboxHost(self.root(instance.id), instance_id=instance.id, address=instance.address,
                           authorized_keys=instance.authorized_keys, host_key=key)
        instance.ssh_port = host.start()
        self.hosts[instance.id] = host
        for volume in self.backend.volumes.attached_to(instance.id):
            host.attach_volume(volume.label, self.backend.volumes.data_dir(volume.id))

    def _stop_host(self, instance: Instance) -> None:
        host = self.hosts.pop(instance.id, None)
        if host is not None:
            host.stop()
        instance.ssh_port = None

    def host(self, instance_id: int):
        """The running sandbox host of an instance, or None (for volume attach and faults)."""
        return self.hosts.get(instance_id)

    def _remove(self, instance: Instance) -> None:
        backend = self.backend
        instance.generation += 1
        self._stop_host(instance)
        del self.instances[instance.id]
        backend.volumes.detach_all(instance.id)
        backend.firewalls.forget_device(instance.id)
        backend.billing.close(instance.id)
        shutil.rmtree(self.root(instance.id).parent, ignore_errors=True)

    # -- disks -------------------------------------------------------------------

    def find_disk(self, disk_id: int) -> tuple[Instance, Disk]:
        for instance in self.instances.values():
            for disk in instance.disks:
                if disk.id == disk_id:
                    return instance, disk
        raise field_error("disk_id", f"Disk {disk_id} does not exist")

    # -- service plumbing ---------------------------------------------------------

    def to_state(self) -> dict:
        return {"instances": [asdict(i) for i in self.instances.values()]}

    def load(self, state: dict) -> None:
        self.instances = {}
        for row in state.get("instances", []):
            row = dict(row)
            row["disks"] = [Disk(**d) for d in row.get("disks", [])]
            row["ssh_port"] = None
            self.instances[row["id"]] = Instance(**row)

    def resume(self) -> None:
        """After a restart: running instances get their SSH back; half-done transitions finish."""
        for instance in list(self.instances.values()):
            if instance.status in ("running", "booting", "rebooting", "provisioning"):
                self._start_host(instance)
                instance.status = "running"
            elif instance.status == "shutting_down":
                instance.status = "offline"

    def close(self) -> None:
        for instance in self.instances.values():
            self._stop_host(instance)

    def reset(self) -> None:
        for instance in list(self.instances.values()):
            self._remove(instance)
        shutil.rmtree(self.backend.state_dir / "instances", ignore_errors=True)


def _load_key(path: Path, paramiko):
    text = path.read_text()
    for cls in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return cls.from_private_key_file(str(path))
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError(f"unreadable host key at {path} ({len(text)} bytes)")
