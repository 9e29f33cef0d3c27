"""Request handlers for /networking/firewalls: parse, call the service, render."""

from __future__ import annotations

FIREWALL_FILTERS = {"id", "label", "status", "tags", "created", "updated"}


def list_firewalls(ctx):
    items = [f.to_api() for f in ctx.backend.firewalls.list_firewalls()]
    return ctx.page(items, FIREWALL_FILTERS)


def create_firewall(ctx):
    body = ctx.body()
    return ctx.backend.firewalls.create_firewall(body).to_api()


def get_firewall(ctx, firewallId):
    return ctx.backend.firewalls.get_firewall(firewallId, field=None).to_api()


def update_firewall(ctx, firewallId):
    body = ctx.body()
    return ctx.backend.firewalls.update_firewall(firewallId, body).to_api()


def delete_firewall(ctx, firewallId):
    ctx.backend.firewalls.delete_firewall(firewallId)
    return {}


def get_rules(ctx, firewallId):
    return ctx.backend.firewalls.get_rules(firewallId)


def update_rules(ctx, firewallId):
    body = ctx.body()
    return ctx.backend.firewalls.update_rules(firewallId, body)


def list_devices(ctx, firewallId):
    items = [d.to_api() for d in ctx.backend.firewalls.list_devices(firewallId)]
    return ctx.page(items)


def create_device(ctx, firewallId):
    body = ctx.body()
    return ctx.backend.firewalls.create_device(firewallId, body).to_api()


def get_device(ctx, firewallId, deviceId):
    return ctx.backend.firewalls.get_device(firewallId, deviceId).to_api()


def delete_device(ctx, firewallId, deviceId):
    ctx.backend.firewalls.delete_device(firewallId, deviceId)
    return {}
