"""``LinodeCloud``: stager's one door to Linode, speaking provider-neutral dataclasses.

Every call goes through linode_api4 to the endpoint its client was made for: the
real API for the ``linode`` target, the local emulator for ``local``. Errors come
out as ``CloudError`` and its kin with one-line messages; the token never does.

    cloud = LinodeCloud(client, poll=Backoff(2, 15))
    info = cloud.create_instance(spec)               # idempotent by label
    info = cloud.wait_instance(info.id, timeout=600)
    ...
    cloud.delete_instance(info.id)

The verbs live in small classes by resource (catalogue, instances, images,
volumes, firewalls and Object Storage keys); this class only joins them.
"""

from __future__ import annotations

from linode_api4 import LinodeClient

from stager.cloud.access import AccessOps
from stager.cloud.images import ImageOps
from stager.cloud.instances import InstanceOps
from stager.cloud.volumes import VolumeOps
from stager.cloud.waiting import Backoff


class LinodeCloud(InstanceOps, ImageOps, VolumeOps, AccessOps):
    """Instances, images, volumes, firewalls, Object Storage keys, the catalogue and the clock of one
    Linode account (or of the local emulator).

    Not supported: LKE, NodeBalancers, placement groups, VPCs, backups, image
    replication; buckets and objects are ``stager.storage``'s.
    """

    def __init__(self, client: LinodeClient, *, poll: Backoff, retries: int = 3,
                 retry_after_cap: float = 60.0) -> None:
        """``poll`` paces every wait; ``retries`` extra attempts follow linode_api4's own for calls
        safe to repeat; no single Retry-After wait is longer than ``retry_after_cap`` seconds."""
        super().__init__(client, poll=poll, retries=retries, retry_after_cap=retry_after_cap)
