"""linode_api4 objects and API JSON turned into stager's neutral dataclasses.

Conversion reads the JSON each object was populated from (``_raw_json``), not its
lazy attributes: a lazy attribute that was not in the JSON triggers another API
call, and an extra field the emulator sends (``ssh_port``) has no attribute at all.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

from stager.cloud.types import ImageInfo, InstanceInfo, PlanInfo, VolumeInfo

# Linode hands out private IPv4 addresses from 192.168.128.0/17.
PRIVATE_NETWORK = ipaddress.ip_network("192.168.128.0/17")


def raw_json(obj) -> dict:
    """The JSON a linode_api4 object was populated from, loading it first when it was not.

    Raises:
        ApiError: (linode_api4) the load failed.
    """
    if isinstance(obj, dict):
        return obj
    data = getattr(obj, "_raw_json", None)
    if data is None:
        obj._api_get()
        data = obj._raw_json
    return data or {}


def parse_time(value) -> datetime | None:
    """Linode's ``2024-01-01T00:00:00`` (UTC, no zone) as an aware datetime; None when absent or unreadable.

    Raises:
        Nothing.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _is_private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in PRIVATE_NETWORK
    except ValueError:
        return False


def instance_info(obj) -> InstanceInfo:
    """An instance as stager's dataclass.

    Raises:
        KeyError: the JSON has no ``id``.
        ApiError: (linode_api4) loading an object that was never populated failed.
    """
    data = raw_json(obj)
    addresses = [a for a in data.get("ipv4") or [] if isinstance(a, str)]
    public = next((a for a in addresses if not _is_private(a)), "")
    private = next((a for a in addresses if _is_private(a)), None)
    image = data.get("image")
    if isinstance(image, dict):
        image = image.get("id")
    plan = data.get("type")
    if isinstance(plan, dict):
        plan = plan.get("id")
    return InstanceInfo(
        id=int(data["id"]), label=data.get("label") or "", status=data.get("status") or "unknown",
        plan=plan or "", region=_id(data.get("region")), image=image, ipv4=public, private_ipv4=private,
        ssh_port=int(data.get("ssh_port") or 22), tags=tuple(data.get("tags") or ()),
        created=parse_time(data.get("created")),
    )


def image_info(obj) -> ImageInfo:
    """An image as stager's dataclass.

    Raises:
        KeyError: the JSON has no ``id``.
        ApiError: (linode_api4) loading an object that was never populated failed.
    """
    data = raw_json(obj)
    return ImageInfo(
        id=str(data["id"]), label=data.get("label") or "", status=data.get("status") or "unknown",
        size_mb=int(data.get("size") or 0), created=parse_time(data.get("created")),
        description=data.get("description") or "", tags=tuple(data.get("tags") or ()),
        is_public=bool(data.get("is_public")),
    )


def volume_info(obj) -> VolumeInfo:
    """A volume as stager's dataclass.

    Raises:
        KeyError: the JSON has no ``id``.
        ApiError: (linode_api4) loading an object that was never populated failed.
    """
    data = raw_json(obj)
    linode_id = data.get("linode_id")
    return VolumeInfo(
        id=int(data["id"]), label=data.get("label") or "", status=data.get("status") or "unknown",
        size_gb=int(data.get("size") or 0), region=_id(data.get("region")),
        linode_id=int(linode_id) if linode_id is not None else None,
        filesystem_path=data.get("filesystem_path") or "", tags=tuple(data.get("tags") or ()),
    )


def plan_info(obj) -> PlanInfo:
    """A plan as stager's dataclass.

    Raises:
        KeyError: the JSON has no ``id``.
        ApiError: (linode_api4) loading an object that was never populated failed.
    """
    data = raw_json(obj)
    price = data.get("price") or {}
    region_prices = {}
    for row in data.get("region_prices") or []:
        if isinstance(row, dict) and row.get("id") and row.get("hourly") is not None:
            region_prices[row["id"]] = float(row["hourly"])
    return PlanInfo(
        id=str(data["id"]), label=data.get("label") or "", gpus=int(data.get("gpus") or 0),
        vcpus=int(data.get("vcpus") or 0), memory_mb=int(data.get("memory") or 0),
        disk_mb=int(data.get("disk") or 0), hourly_usd=float(price.get("hourly") or 0.0),
        monthly_usd=float(price.get("monthly") or 0.0), region_prices=region_prices,
    )


def _id(value) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")
