"""Personal access tokens and their OAuth scopes.

A scope string is Linode's: ``"*"`` for everything, or space-separated
``family:level`` pairs such as ``"linodes:read_write images:read_only"``.
A GET needs ``read_only``; anything else needs ``read_write``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from stager.emulator.core.errors import Forbidden, Unauthorized

_LEVELS = {"read_only": 1, "read_write": 2}


@dataclass(frozen=True)
class Token:
    token: str
    scopes: str = "*"
    label: str = ""

    def level(self, family: str) -> int:
        if self.scopes.strip() == "*":
            return 2
        best = 0
        for part in self.scopes.split():
            name, _, level = part.partition(":")
            if name == family:
                best = max(best, _LEVELS.get(level, 0))
        return best


def new_token_value() -> str:
    return secrets.token_hex(32)


class TokenStore:
    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    def add(self, scopes: str = "*", label: str = "", value: str | None = None) -> Token:
        token = Token(value or new_token_value(), scopes, label)
        self._tokens[token.token] = token
        return token

    def all(self) -> list[Token]:
        return list(self._tokens.values())

    def authorize(self, header: str | None, family: str, method: str) -> Token:
        """The token behind an ``Authorization`` header, if it may do ``method`` on ``family``.

        Raises:
            Unauthorized: no header, not a bearer token, or an unknown token (401).
            Forbidden: a known token whose scopes do not cover the request (403).
        """
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("Invalid Token")
        token = self._tokens.get(header[len("Bearer "):].strip())
        if token is None:
            raise Unauthorized("Invalid Token")
        needed = 1 if method in ("GET", "HEAD") else 2
        if family and token.level(family) < needed:
            raise Forbidden("Unauthorized")
        return token
