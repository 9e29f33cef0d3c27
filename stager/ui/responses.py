"""What a page hands back to the server: a finished HTML document, or an error to show as one."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Page", "PageError"]


@dataclass(frozen=True)
class Page:
    body: str  # a whole HTML document
    status: int = 200


class PageError(Exception):
    """A request that cannot be answered with its page: the status and one line saying why (and the fix)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
