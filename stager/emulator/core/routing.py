"""URL table: ``(method, template) -> handler``, with the OAuth scope each route needs.

Templates read like the OpenAPI spec's paths: ``/linode/instances/{linodeId}``.
Numeric ids are integers (a non-integer there is a 404, as on Linode); image ids
are ``private/N`` or ``linode/name`` and so span two segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stager.emulator.core.errors import MethodNotAllowed, NotFound

_PARAM = re.compile(r"\{(\w+)\}")
_INTEGER_IDS = ("linodeId", "diskId", "volumeId", "firewallId", "deviceId", "eventId", "keyId", "configId")
_PATTERNS = {**{name: r"\d+" for name in _INTEGER_IDS}, "imageId": r"(?:private|linode)/[^/]+"}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Callable
    scope: str  # the OAuth scope family: linodes, images, volumes, object_storage, ...

    def compile(self) -> re.Pattern:
        def repl(match: re.Match) -> str:
            name = match.group(1)
            return rf"(?P<{name}>{_PATTERNS.get(name, '[^/]+')})"

        return re.compile("^" + _PARAM.sub(repl, self.template) + "$")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._table = [(route, route.compile()) for route in routes]

    def resolve(self, method: str, path: str) -> tuple[Route, dict]:
        allowed = False
        for route, pattern in self._table:
            match = pattern.match(path)
            if not match:
                continue
            if route.method != method:
                allowed = True
                continue
            params = {k: int(v) if k in _INTEGER_IDS else v for k, v in match.groupdict().items()}
            return route, params
        if allowed:
            raise MethodNotAllowed()
        raise NotFound()
