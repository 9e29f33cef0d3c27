"""Request handlers for /volumes: parse, call the service, render."""

from __future__ import annotations

from stager.emulator.volumes.models import volume_types

VOLUME_FILTERS = {"id", "label", "region", "size", "status", "tags", "linode_id", "created", "updated"}


def list_volumes(ctx):
    items = [v.to_api() for v in ctx.backend.volumes.list_volumes()]
    return ctx.page(items, VOLUME_FILTERS)


def list_types(ctx):
    return ctx.page(volume_types())


def create_volume(ctx):
    body = ctx.body()
    return ctx.backend.volumes.create_volume(body).to_api()


def get_volume(ctx, volumeId):
    return ctx.backend.volumes.get_volume(volumeId).to_api()


def update_volume(ctx, volumeId):
    body = ctx.body()
    return ctx.backend.volumes.update_volume(volumeId, body).to_api()


def delete_volume(ctx, volumeId):
    ctx.backend.volumes.delete_volume(volumeId)
    return {}


def attach_volume(ctx, volumeId):
    body = ctx.body()
    return ctx.backend.volumes.attach_volume(volumeId, body).to_api()


def detach_volume(ctx, volumeId):
    ctx.backend.volumes.detach_volume(volumeId)
    return {}


def resize_volume(ctx, volumeId):
    body = ctx.body()
    return ctx.backend.volumes.resize_volume(volumeId, body).to_api()


def clone_volume(ctx, volumeId):
    body = ctx.body()
    return ctx.backend.volumes.clone_volume(volumeId, body).to_api()
