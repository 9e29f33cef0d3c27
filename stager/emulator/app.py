"""Turns HTTP requests into backend calls: routing, auth, faults, rate limits, errors.

Order per request, as Linode does it: find the route (404/405), check the token
and its scope (401/403), then the rate limits (429), then run the handler.
Injected faults answer before the handler runs, so a failed call changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from stager.emulator.backend import Backend
from stager.emulator.core.errors import ApiError, NotFound, RateLimited
from stager.emulator.core.filters import FilterError, parse_filter
from stager.emulator.core.http import Request, Response
from stager.emulator.core.pagination import paginate
from stager.emulator.core.routing import Route, Router

log = logging.getLogger("stager.emulator")
API_PREFIX = "/v4"


@dataclass
class Context:
    """What a handler sees: the backend, the request and the caller's token."""

    backend: Backend
    request: Request
    token: object

    def body(self) -> dict:
        return self.request.json()

    def page(self, items: list[dict], filterable: set[str] | None = None) -> dict:
        """Filter (``X-Filter``), order and paginate a list of API objects."""
        try:
            flt = parse_filter(self.request.headers.get("x-filter"), filterable)
            items = flt.apply(items)
        except FilterError as exc:
            raise ApiError(str(exc), "X-Filter") from None
        return paginate(items, self.request.query)


def all_routes() -> list[Route]:
    from stager.emulator.account.urls import ROUTES as account
    from stager.emulator.images.urls import ROUTES as images
    from stager.emulator.linode.urls import ROUTES as linode
    from stager.emulator.networking.urls import ROUTES as networking
    from stager.emulator.objectstorage.urls import ROUTES as object_storage
    from stager.emulator.volumes.urls import ROUTES as volumes

    return [*account, *linode, *images, *volumes, *object_storage, *networking]


class ApiApplication:
    def __init__(self, backend: Backend, extra: dict[str, Callable[[Request], Response]] | None = None) -> None:
        self.backend = backend
        self.router = Router(all_routes())
        # Non-API prefixes (the control API, image uploads) and their handlers.
        self.extra = extra or {}

    def now(self):
        """The emulator's clock (naive UTC): what every answer's ``Date`` header says."""
        return self.backend.clock.now()

    def __call__(self, request: Request) -> Response:
        try:
            if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
                return self._api(request)
            for prefix, handler in self.extra.items():
                if request.path.startswith(prefix):
                    return handler(request)
            raise NotFound()
        except ApiError as exc:
            return Response.json(exc.status, exc.body(), exc.headers)
        except Exception:  # the emulator must answer like a server, never hang up
            # An upload URL's last segment is its secret: never log it.
            shown = "/_upload/..." if request.path.startswith("/_upload/") else request.path
            log.exception("emulator: %s %s failed", request.method, shown)
            return Response.json(500, {"errors": [{"reason": "Internal emulator error"}]})

    def _api(self, request: Request) -> Response:
        backend = self.backend
        path = request.path[len(API_PREFIX):] or "/"
        route, params = self.router.resolve(request.method, path)
        token = backend.tokens.authorize(request.headers.get("authorization"), route.scope, request.method)
        self._rate_limit(token, route, request.method)
        failure = backend.faults.take_api_failure(request.method, path)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.status in (429, 503) else {}
            raise ApiError(f"Injected failure ({failure.status})", status=failure.status, headers=headers)
        if backend.faults.latency_s:
            time.sleep(backend.faults.latency_s)
        ctx = Context(backend, request, token)
        request.body()  # read before taking the lock: a slow client must not hold up the others
        # One lock around every handler: API calls are short, and it keeps rules that
        # span services (a volume attached to an instance being deleted) simple.
        with backend.lock:
            result = route.handler(ctx, **params)
            if request.method != "GET":
                backend.persist()
        status, payload = result if isinstance(result, tuple) else (200, result)
        return Response.json(status, payload)

    def _rate_limit(self, token, route: Route, method: str) -> None:
        limiter = self.backend.rate_limiter
        for name, key in (("overall", token.token), ("endpoint", f"{token.token} {method} {route.template}")):
            wait = limiter.check(name, key)
            if wait is not None:
                raise RateLimited(wait)
