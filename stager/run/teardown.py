"""Deleting everything a run made: instances first, then its firewall and its Object Storage key.

Each deletion is retried with backoff; whatever still stands afterwards is
reported with the command that finishes the job, and stays live in the ledger,
where ``stager gc`` finds it. Never raises: it runs in a ``finally``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from stager.cloud.teardown import delete_instance_surely
from stager.errors import StagerError

__all__ = ["Created", "tear_down"]

ATTEMPTS = 3
_ORDER = {"instance": 0, "volume": 1, "firewall": 2, "bucket_key": 3}  # a firewall outlives the instances behind it


@dataclass(frozen=True)
class Created:
    kind: str  # instance | volume | firewall | bucket_key (as in the ledger)
    id: int
    label: str


def _delete(cloud, item: Created, say: Callable[[str], None], pause: Callable[[float], None]) -> bool:
    if item.kind == "instance":
        return delete_instance_surely(cloud, label=item.label, instance_id=item.id, role="training", say=say,
                                      pause=pause)
    remove = {"firewall": cloud.delete_firewall, "bucket_key": cloud.delete_object_key,
              "volume": cloud.delete_volume}[item.kind]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            remove(item.id)
            say(f"{item.kind.replace('_', ' ')} {item.id} deleted")
            return True
        except StagerError as exc:
            say(f"deleting {item.kind.replace('_', ' ')} {item.id} failed (attempt {attempt} of {ATTEMPTS}): {exc}")
            if attempt < ATTEMPTS:
                pause(min(2.0**attempt, 10.0))
    return False


def tear_down(cloud, created: list[Created], *, target: str, say: Callable[[str], None],
              on_deleted: Callable[[Created], None], pause: Callable[[float], None] = time.sleep) -> list[Created]:
    """Delete ``created``; return what could not be deleted (and say how to finish)."""
    left = []
    for item in sorted(created, key=lambda c: _ORDER.get(c.kind, 9)):
        if _delete(cloud, item, say, pause):
            on_deleted(item)
        else:
            left.append(item)
    if left:
        names = ", ".join(f"{c.kind.replace('_', ' ')} {c.id}" for c in left)
        say(f"could not delete {names}; finish with `stager gc --target {target}` (it is recorded as live in the "
            "ledger), or delete them in Cloud Manager: instances are billed until deleted")
    return left
