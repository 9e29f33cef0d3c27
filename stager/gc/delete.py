"""Deleting one leftover for sure: each kind its own way, a few attempts, the last error kept for the report."""

from __future__ import annotations

import time
from collections.abc import Callable

from stager.cloud import CloudError, LinodeCloud
from stager.cloud.teardown import delete_instance_surely
from stager.gc.model import Found

__all__ = ["ATTEMPTS", "delete_found"]

ATTEMPTS = 3  # on top of the cloud layer's own retries of 429 and 5xx answers
DETACH_TIMEOUT = 300.0


def delete_found(cloud: LinodeCloud, item: Found, *, say: Callable[[str], None], attempts: int = ATTEMPTS,
                 pause: Callable[[float], None] = time.sleep) -> str | None:
    """Delete ``item``; None when it is gone (deleted now or already), else why not, in one line.

    Raises:
        Nothing: failures are returned, so one leftover never stops the others.
    """
    if item.kind == "instance":
        lines: list[str] = []

        def tell(line: str) -> None:
            lines.append(line)
            say(line)

        done = delete_instance_surely(cloud, label=item.label, instance_id=int(item.id), role="leftover", say=tell,
                                      attempts=attempts, pause=pause)
        return None if done else (lines[-1] if lines else f"instance {item.id} could not be deleted")
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            _delete(cloud, item)
            return None
        except CloudError as exc:
            last = str(exc)
            say(f"deleting {item.kind} {item.id} failed (attempt {attempt} of {attempts}): {exc}")
            if attempt < attempts:
                pause(min(2.0**attempt, 10.0))
    return last


def _delete(cloud: LinodeCloud, item: Found) -> None:
    if item.kind == "volume":
        volume = cloud.get_volume(int(item.id))
        if volume is None:
            return
        if volume.linode_id is not None:  # usually detached already: its instance was deleted just before
            cloud.detach_volume(volume.id, timeout=DETACH_TIMEOUT)
        cloud.delete_volume(volume.id)
    elif item.kind == "firewall":
        cloud.delete_firewall(int(item.id))
    elif item.kind == "bucket_key":
        cloud.delete_object_key(int(item.id))
    elif item.kind == "image":
        cloud.delete_image(item.id)
    else:
        raise CloudError(f"stager gc cannot delete a {item.kind}")
