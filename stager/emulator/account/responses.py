"""Request handlers for /profile, /account, /account/events and /tags."""

from __future__ import annotations

from stager.emulator.core.errors import NotFound, field_error, require
from stager.emulator.core.service import check_tags

EVENT_FILTERS = {"id", "action", "created", "entity.id", "entity.type", "entity.label", "status", "seen", "read"}


def get_profile(ctx):
    return {
        "uid": 1, "username": "stager", "email": "stager@localhost", "timezone": "UTC",
        "email_notifications": False, "ip_whitelist_enabled": False, "lish_auth_method": "keys_only",
        "authorized_keys": None, "two_factor_auth": False, "restricted": False, "authentication_type": "password",
        "verified_phone_number": None,
        "referrals": {"code": "", "url": "", "total": 0, "completed": 0, "pending": 0, "credit": 0},
    }


def get_account(ctx):
    billing = ctx.backend.billing.report()
    return {
        "active_since": "2024-01-01T00:00:00", "address_1": "", "address_2": "", "balance": 0,
        "balance_uninvoiced": billing["total_usd"], "billing_source": "linode",
        "capabilities": ["Linodes", "Block Storage", "Object Storage", "Cloud Firewall", "Vlans", "GPU Linodes"],
        "city": "", "company": "stager emulator", "country": "US", "credit_card": {"expiry": "", "last_four": ""},
        "email": "stager@localhost", "euuid": "00000000-0000-0000-0000-000000000000", "first_name": "stager",
        "last_name": "emulator", "phone": "", "state": "", "tax_id": "", "zip": "", "active_promotions": [],
    }


def list_events(ctx):
    items = [e.to_api() for e in sorted(ctx.backend.events.events.values(), key=lambda e: -e.id)]
    return ctx.page(items, EVENT_FILTERS)


def get_event(ctx, eventId):
    event = ctx.backend.events.events.get(eventId)
    if event is None:
        raise NotFound()
    return event.to_api()


def mark_event_seen(ctx, eventId):
    for event in ctx.backend.events.events.values():
        if event.id <= eventId:
            event.seen = True
    return {}


def mark_event_read(ctx, eventId):
    event = ctx.backend.events.events.get(eventId)
    if event is None:
        raise NotFound()
    event.read = True
    return {}


# -- tags: derived from the tagged objects, plus labels created on their own -----------

def _tagged(backend) -> list[tuple[str, dict, list[str]]]:
    rows = [("linode", i.to_api(), i.tags) for i in backend.instances.instances.values()]
    rows += [("volume", v.to_api(), v.tags) for v in backend.volumes.volumes.values()]
    return rows


def list_tags(ctx):
    labels = set(ctx.backend.tags_created)
    for _, _, tags in _tagged(ctx.backend):
        labels.update(tags)
    return ctx.page([{"label": label} for label in sorted(labels)])


def create_tag(ctx):
    body = ctx.body()
    label = require(body, "label")
    check_tags([label], "label")
    backend = ctx.backend
    for field, objects in (("linodes", backend.instances.instances), ("volumes", backend.volumes.volumes)):
        for object_id in body.get(field) or []:
            if object_id not in objects:
                raise field_error(field, f"{field[:-1]} {object_id} does not exist")
            if label not in objects[object_id].tags:
                objects[object_id].tags.append(label)
    backend.tags_created.add(label)
    return {"label": label}


def get_tag(ctx, tagLabel):
    rows = [{"type": kind, "data": data} for kind, data, tags in _tagged(ctx.backend) if tagLabel in tags]
    if not rows and tagLabel not in ctx.backend.tags_created:
        raise NotFound()
    return ctx.page(rows)


def delete_tag(ctx, tagLabel):
    backend = ctx.backend
    found = tagLabel in backend.tags_created
    backend.tags_created.discard(tagLabel)
    for objects in (backend.instances.instances, backend.volumes.volumes):
        for obj in objects.values():
            if tagLabel in obj.tags:
                obj.tags.remove(tagLabel)
                found = True
    if not found:
        raise NotFound()
    return {}



