"""A run's own secrets: made when it starts, revoked when it ends.

- an SSH key pair for logging in, and a host key the instance is given through
  cloud-init, so the first connection already checks it (no trust on first use);
  both live in memory only: nothing to leak from disk, nothing to clean up;
- a Cloud Firewall that admits SSH from this machine's address only;
- a limited Object Storage key: read-only on the data bucket, read-write on the
  outputs bucket (Linode scopes keys per bucket, not per prefix, which is why a
  run's outputs go to a bucket of their own).

The firewall and the key are cloud resources: each is recorded in the ledger the
moment it exists, so a teardown that fails (or a controller that is killed)
leaves them for ``stager gc``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from stager.errors import UsageError
from stager.remote import KeyPair, new_key_pair

__all__ = ["SSH_FROM_ENV", "RunAccess", "controller_cidrs"]

SSH_FROM_ENV = "STAGER_SSH_FROM"  # comma-separated CIDRs that may reach the run's instances over SSH
_IP_SERVICE = "https://api.ipify.org"


@dataclass
class RunAccess:
    client_key: KeyPair  # stager logs in with this
    host_key: KeyPair  # the instance presents this; pinned before the first connection
    firewall_id: int | None = None
    object_key_id: int | None = None
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    ssh_from: tuple[str, ...] = ()  # the CIDRs the firewall admits SSH from (kept when the rules are extended)

    def __repr__(self) -> str:
        return f"RunAccess(firewall_id={self.firewall_id}, object_key_id={self.object_key_id})"


def controller_cidrs(target: str) -> list[str]:
    """The addresses the run's firewall admits SSH from.

    ``STAGER_SSH_FROM`` when set; on the local target the loopback network;
    on Linode this machine's public IPv4, asked of a what-is-my-address service.

    Raises:
        UsageError: ``STAGER_SSH_FROM`` is malformed, or the address cannot be found.
    """
    given = os.environ.get(SSH_FROM_ENV, "").strip()
    if given:
        cidrs = []
        for part in (p.strip() for p in given.split(",") if p.strip()):
            try:
                cidrs.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise UsageError(f"{SSH_FROM_ENV}: {part!r} is not an address or network; "
                                 "e.g. 203.0.113.4/32") from None
        return cidrs
    if target == "local":
        return ["127.0.0.0/8"]  # the emulator's instances and this machine are all on loopback
    import requests

    try:
        answer = requests.get(_IP_SERVICE, timeout=10).text.strip()
        return [str(ipaddress.ip_network(f"{answer}/32"))]
    except (requests.RequestException, ValueError):
        raise UsageError(f"cannot find this machine's public address for the run's firewall; set {SSH_FROM_ENV} "
                         "to it, e.g. export STAGER_SSH_FROM=203.0.113.4/32") from None


def open_access(cloud, *, run_id: str, target: str, data_bucket: str | None, outputs_bucket: str, bucket_region: str,
                tags: tuple[str, ...], record: Callable[[str, int, str], None],
                object_storage: bool, ssh_from: tuple[str, ...] | None = None) -> RunAccess:
    """Make the run's keys and firewall; ``record(kind, id, label)`` is called as each cloud resource appears.

    ``object_storage``: whether the instances need a key (they pull data and push checkpoints);
    ``data_bucket`` None when the datasets come on volumes (the key then reaches the outputs bucket only).
    """
    from stager.cloud.access import BucketAccess, firewall_label
    from stager.cloud.tags import resource_label

    access = RunAccess(new_key_pair(f"stager-{run_id}"), new_key_pair("stager-host"))
    label = firewall_label(run_id)
    access.ssh_from = tuple(ssh_from or controller_cidrs(target))
    firewall = cloud.create_firewall(label, ssh_from=list(access.ssh_from), tags=tags)
    access.firewall_id = firewall.id
    record("firewall", firewall.id, label)
    if object_storage:
        label = resource_label(run_id, "key")
        buckets = [BucketAccess(outputs_bucket, bucket_region, "read_write")]
        if data_bucket is not None:
            buckets.insert(0, BucketAccess(data_bucket, bucket_region, "read_only"))
        key = cloud.create_object_key(label, buckets)
        access.object_key_id = key.id
        access.access_key, access.secret_key = key.access_key, key.secret_key
        record("bucket_key", key.id, label)
    return access
