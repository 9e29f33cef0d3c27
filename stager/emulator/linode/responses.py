"""Request handlers for /linode/... and /regions: parse, call the service, render."""

from __future__ import annotations

from stager.emulator import catalog
from stager.emulator.core.errors import NotFound

INSTANCE_FILTERS = {"id", "label", "region", "type", "image", "status", "tags", "group", "created", "updated"}


def list_regions(ctx):
    return ctx.page([r.to_api() for r in catalog.REGIONS])


def get_region(ctx, regionId):
    region = catalog.region(regionId)
    if region is None:
        raise NotFound()
    return region.to_api()


def list_types(ctx):
    return ctx.page([p.to_api() for p in catalog.PLANS])


def get_type(ctx, typeId):
    plan = catalog.plan(typeId)
    if plan is None:
        raise NotFound()
    return plan.to_api()


def list_instances(ctx):
    items = [i.to_api() for i in ctx.backend.instances.list_instances()]
    return ctx.page(items, INSTANCE_FILTERS)


def create_instance(ctx):
    body = ctx.body()
    return ctx.backend.instances.create_instance(body, ctx.token.token).to_api()


def get_instance(ctx, linodeId):
    return ctx.backend.instances.get_instance(linodeId).to_api()


def update_instance(ctx, linodeId):
    body = ctx.body()
    return ctx.backend.instances.update_instance(linodeId, body).to_api()


def delete_instance(ctx, linodeId):
    ctx.backend.instances.delete_instance(linodeId)
    return {}


def boot(ctx, linodeId):
    ctx.backend.instances.boot(linodeId)
    return {}


def reboot(ctx, linodeId):
    ctx.backend.instances.reboot(linodeId)
    return {}


def shutdown(ctx, linodeId):
    ctx.backend.instances.shutdown(linodeId)
    return {}


def list_disks(ctx, linodeId):
    disks = [d.to_api() for d in ctx.backend.instances.get_instance(linodeId).disks]
    return ctx.page(disks)


def get_disk(ctx, linodeId, diskId):
    for disk in ctx.backend.instances.get_instance(linodeId).disks:
        if disk.id == diskId:
            return disk.to_api()
    raise NotFound()


def list_instance_volumes(ctx, linodeId):
    ctx.backend.instances.get_instance(linodeId)
    items = [v.to_api() for v in ctx.backend.volumes.attached_to(linodeId)]
    return ctx.page(items)


def list_instance_firewalls(ctx, linodeId):
    ctx.backend.instances.get_instance(linodeId)
    items = [f.to_api() for f in ctx.backend.firewalls.protecting(linodeId)]
    return ctx.page(items)


def list_ips(ctx, linodeId):
    instance = ctx.backend.instances.get_instance(linodeId)

    def address(addr, public):
        return {"address": addr, "type": "ipv4", "public": public, "linode_id": instance.id,
                "region": instance.region, "prefix": 24 if public else 17, "rdns": None,
                "gateway": None, "subnet_mask": "255.255.255.0" if public else "255.255.128.0"}

    private = [address(instance.private_address, False)] if instance.private_address else []
    return {"ipv4": {"public": [address(instance.address, True)], "private": private, "shared": [],
                     "reserved": [], "vpc": []},
            "ipv6": None}
