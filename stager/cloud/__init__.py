"""Linode through linode_api4, behind provider-neutral dataclasses.

``open_target("local" | "linode")`` gives a ``CloudTarget`` whose ``cloud`` is a
``LinodeCloud``; everything it returns is a dataclass from ``stager.cloud.types``
and everything it raises is a ``CloudError``, ``CapacityError``, ``CloudTimeout``
or ``CredentialsError``.
"""

from __future__ import annotations

from stager.cloud.access import firewall_label
from stager.cloud.errors import (
    CapacityError,
    CloudError,
    CloudTimeout,
    CredentialsError,
)
from stager.cloud.linode import LinodeCloud
from stager.cloud.tags import (
    parse_ttl,
    resource_label,
    run_of,
    stager_tags,
    volume_label,
)
from stager.cloud.targets import CloudTarget, open_target
from stager.cloud.types import (
    Alternative,
    BucketAccess,
    FirewallInfo,
    ImageInfo,
    InstanceInfo,
    InstanceSpec,
    ObjectKey,
    PlanInfo,
    VolumeInfo,
)
from stager.cloud.waiting import Backoff, wait_until

__all__ = [
    "Alternative", "Backoff", "BucketAccess", "CapacityError", "CloudError", "CloudTarget", "CloudTimeout",
    "CredentialsError", "FirewallInfo", "ImageInfo", "InstanceInfo", "InstanceSpec", "LinodeCloud", "ObjectKey",
    "PlanInfo", "VolumeInfo", "firewall_label", "open_target", "parse_ttl", "resource_label", "run_of",
    "stager_tags", "volume_label", "wait_until",
]
