"""API errors, one small class per kind, rendered as Linode renders them.

Linode answers every error as ``{"errors": [{"reason": ..., "field": ...}]}``;
``field`` is present only when one request field is at fault.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400

    def __init__(self, reason: str, field: str | None = None, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"reason": self.reason}
        if self.field:
            error["field"] = self.field
        return {"errors": [error]}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, reason: str = "Invalid Token") -> None:
        super().__init__(reason)


class Forbidden(ApiError):
    status = 403

    def __init__(self, reason: str = "Unauthorized") -> None:
        super().__init__(reason)


class NotFound(ApiError):
    status = 404

    def __init__(self, reason: str = "Not found") -> None:
        super().__init__(reason)


class MethodNotAllowed(ApiError):
    status = 405

    def __init__(self) -> None:
        super().__init__("Method Not Allowed")


class RateLimited(ApiError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too Many Requests", headers={"Retry-After": str(retry_after)})


def field_error(field: str, reason: str) -> BadRequest:
    return BadRequest(reason, field)


def require(body: dict, field: str):
    """The value of a required request field, or Linode's 400 naming it."""
    value = body.get(field)
    if value is None or value == "":
        raise field_error(field, f"{field} is required")
    return value
