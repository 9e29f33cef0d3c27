"""The control API, outside ``/v4``: faults, clock, billing, status and reset over HTTP.

It is what a test in another process (or ``stager emulator status``) uses; Python
callers in the same process use the ``Emulator`` object instead. The emulator's
token is required, as for the API.
"""

from __future__ import annotations

import json

from stager.emulator.core.errors import ApiError, BadRequest, NotFound
from stager.emulator.core.http import Request, Response

PREFIX = "/_emulator/"


def status(backend) -> dict:
    with backend.lock:
        return {
            "instances": {i.label: i.status for i in backend.instances.instances.values()},
            "images": len(backend.images.images),
            "volumes": len(backend.volumes.volumes),
            "buckets": len(backend.object_storage.store.list_buckets()),
            "events": len(backend.events.events),
            "now": backend.clock.stamp(),
            "billing": backend.billing.report(),
        }


def apply_faults(emulator, body: dict) -> None:
    """Apply each fault named in ``body``; unknown names are a 400 so a typo never passes silently."""
    faults = emulator.faults
    for name, value in body.items():
        if name == "fail_next":
            faults.fail_next(int(value.get("count", 1)), int(value.get("status", 500)),
                             method=value.get("method"), path_prefix=value.get("path_prefix"),
                             retry_after=int(value.get("retry_after", 1)))
        elif name in ("latency_s", "provision_s", "boot_s", "shutdown_s", "capture_s"):
            setattr(faults, name, float(value))
        elif name in ("failing_boots", "failing_captures"):
            setattr(faults, name, int(value))
        elif name == "gpu_capacity":
            faults.gpu_capacity.update({str(k): int(v) for k, v in value.items()})
        elif name == "drop_ssh":
            emulator.drop_ssh(int(value["instance_id"]), value.get("after_s"))
        elif name == "vanish":
            emulator.vanish(int(value["instance_id"]))
        elif name == "clear":
            faults.clear()
        else:
            raise BadRequest(f"unknown fault {name!r}", name)


def make_handler(emulator):
    backend = emulator.backend

    def handle(request: Request) -> Response:
        backend.tokens.authorize(request.headers.get("authorization"), "", "GET")
        action = request.path[len(PREFIX):].strip("/")
        body = request.json() if request.method == "POST" else {}
        if (request.method, action) == ("GET", "status"):
            return Response.json(200, status(backend))
        if (request.method, action) == ("GET", "billing"):
            with backend.lock:
                return Response.json(200, backend.billing.report())
        if (request.method, action) == ("POST", "reset"):
            emulator.reset()
            return Response.json(200, {})
        if (request.method, action) == ("POST", "clock"):
            backend.clock.advance(seconds=float(body.get("advance_s", 0)))
            backend.persist()
            return Response.json(200, {"now": backend.clock.stamp()})
        if (request.method, action) == ("POST", "faults"):
            try:
                apply_faults(emulator, body)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ApiError(f"bad fault description: {json.dumps(body)[:200]} ({exc})") from None
            return Response.json(200, {})
        raise NotFound()

    return handle
