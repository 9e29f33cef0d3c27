"""Provider-neutral descriptions of what stager rents: the inputs and outputs of ``stager.cloud``.

Nothing here knows about linode_api4. The rest of stager (the run engine, the
image builder, ``stager gc``) reads and writes only these, so the cloud layer
can be swapped or faked without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class InstanceSpec:
    """What to create; ``label`` is the idempotency key (see ``LinodeCloud.create_instance``)."""

    label: str  # unique per account; see stager.cloud.tags.resource_label
    plan: str  # Linode type id, e.g. "g1-gpu-rtx6000-1"
    region: str  # e.g. "us-east"
    image: str  # "linode/ubuntu24.04" or a gold image "private/123"
    authorized_keys: tuple[str, ...]  # OpenSSH public key lines that may log in as root
    tags: tuple[str, ...]  # stager_tags(...) plus anything else; 3-50 characters each
    user_data: str | None = None  # cloud-init text, plain; the cloud layer base64-encodes it for metadata.user_data
    private_ip: bool = False  # add a private IPv4 (for torchrun rendezvous between instances)
    firewall_id: int | None = None  # a Cloud Firewall to put the instance behind from its first boot

    def __repr__(self) -> str:  # user_data may hold host keys: keep it out of logs
        shown = "None" if self.user_data is None else f"<{len(self.user_data)} characters>"
        return (f"InstanceSpec(label={self.label!r}, plan={self.plan!r}, region={self.region!r}, "
                f"image={self.image!r}, authorized_keys=<{len(self.authorized_keys)} keys>, tags={self.tags!r}, "
                f"user_data={shown}, private_ip={self.private_ip!r}, firewall_id={self.firewall_id!r})")


@dataclass(frozen=True)
class InstanceInfo:
    """An instance as the API last described it."""

    id: int  # Linode's numeric id
    label: str
    status: str  # provisioning | booting | running | shutting_down | offline | deleting | rebooting | busy ...
    plan: str  # type id
    region: str
    image: str | None  # what it was deployed from; None for an instance created without one
    ipv4: str  # public IPv4 (a loopback address on the local target)
    private_ipv4: str | None  # 192.168.128.0/17 address when private_ip was asked for
    ssh_port: int  # 22 on Linode; the emulator may report another via `ssh_port`
    tags: tuple[str, ...]
    created: datetime | None  # UTC, timezone-aware


@dataclass(frozen=True)
class ImageInfo:
    """A public or private (gold) image."""

    id: str  # "private/123" or "linode/ubuntu24.04"
    label: str
    status: str  # creating | pending_upload | available
    size_mb: int  # size on Linode's books (billed at $0.10/GB-month for private images)
    created: datetime | None  # UTC, timezone-aware
    description: str  # "" when the API has none
    tags: tuple[str, ...]
    is_public: bool  # a distribution image rather than one of the account's own


@dataclass(frozen=True)
class VolumeInfo:
    """A Block Storage volume."""

    id: int
    label: str
    status: str  # creating | active | resizing ...
    size_gb: int
    region: str
    linode_id: int | None  # the instance it is attached to, if any
    filesystem_path: str  # the device on the instance: /dev/disk/by-id/scsi-0Linode_Volume_<label>
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PlanInfo:
    """A plan (Linode "type") with its specs and prices."""

    id: str  # e.g. "g1-gpu-rtx6000-1"
    label: str  # Linode's human label
    gpus: int  # 0 for CPU plans
    vcpus: int
    memory_mb: int
    disk_mb: int
    hourly_usd: float  # the default price; billed per started hour
    monthly_usd: float  # the cap on a month's hourly charges
    region_prices: dict[str, float] = field(default_factory=dict)  # per-region hourly price when /linode/types gives one

    def hourly_in(self, region: str) -> float:
        """The hourly price in ``region``: its own price when Linode lists one, else the default.

        Raises:
            Nothing.
        """
        return self.region_prices.get(region, self.hourly_usd)


@dataclass(frozen=True)
class Alternative:
    """Somewhere else a capacity-starved request could go."""

    plan: str
    region: str
    hourly_usd: float  # the price there


@dataclass(frozen=True)
class FirewallInfo:
    """A Cloud Firewall, as the API last described it."""

    id: int  # Linode's numeric id
    label: str  # unique per account, 3-32 characters
    tags: tuple[str, ...]  # stager_tags(...) for the ones stager made
    created: str | None  # as Linode sends it: UTC "2024-01-01T00:00:00", no zone; None when absent


@dataclass(frozen=True)
class BucketAccess:
    """One bucket an Object Storage key may use. Linode scopes keys per bucket, never per prefix."""

    bucket: str  # the bucket's name (its label)
    region: str  # the bucket's region, e.g. "us-east"
    permissions: str  # "read_only" | "read_write"


@dataclass(frozen=True)
class ObjectKey:
    """An Object Storage access key pair."""

    id: int  # Linode's numeric id
    label: str  # stager's keys: resource_label(run_id, role); not unique on Linode
    access_key: str  # the public half, as an S3 client's aws_access_key_id
    secret_key: str = field(repr=False)  # only when just created; "" for a listed key (Linode never repeats it)
    bucket_access: tuple[BucketAccess, ...] | None = None  # the buckets a limited key may use; None: every bucket
