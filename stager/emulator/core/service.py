"""What every emulated service provides to the backend."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from stager.emulator.core.errors import field_error

if TYPE_CHECKING:
    from stager.emulator.backend import Backend

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")


class Service:
    name = ""  # the key of this service's part of the state file

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def to_state(self) -> dict:
        raise NotImplementedError

    def load(self, state: dict) -> None:
        raise NotImplementedError

    def resume(self) -> None:
        """Restart runtime parts (threads, listeners) after a load."""

    def close(self) -> None:
        """Stop runtime parts; the state itself stays."""

    def reset(self) -> None:
        raise NotImplementedError


def check_label(label, field: str = "label", low: int = 3, high: int = 64) -> str:
    """Linode's label rule: letters, digits, ``-_.``; starts and ends alphanumeric."""
    if not isinstance(label, str) or not low <= len(label) <= high:
        raise field_error(field, f"Label must be {low}-{high} characters")
    if not _LABEL.match(label) or "--" in label or "__" in label or ".." in label:
        raise field_error(field, "Label must include only ASCII letters, numbers, dashes, underscores and periods, "
                          "start and end with a letter or number, and not repeat a symbol")
    return label


def check_tags(tags, field: str = "tags") -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) and 3 <= len(t) <= 50 for t in tags):
        raise field_error(field, "Tags must be a list of strings of 3-50 characters")
    return list(dict.fromkeys(tags))
