"""Deleting a paid instance for sure: retried, found by label if its create never answered, never raising.

Every stager command that creates an instance (an image builder, a staging
instance, a run's GPU instances) ends by calling `delete_instance_surely` in a
``finally``. When deleting still fails after the retries, it says which
instance to delete by hand, because Linode bills it until it is deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stager.cloud.errors import CloudError
from stager.cloud.linode import LinodeCloud

__all__ = ["delete_instance_surely"]

ATTEMPTS = 3


def delete_instance_surely(cloud: LinodeCloud, *, label: str, instance_id: int | None, role: str,
                           say: Callable[[str], None], attempts: int = ATTEMPTS,
                           pause: Callable[[float], None] = time.sleep) -> bool:
    """Delete the instance ``instance_id`` (or the one labelled ``label`` when the id is unknown).

    ``role`` names it in messages ("builder", "staging instance"). Returns True
    when it is gone (or never existed), False when it could not be deleted; in
    that case the last message says how to delete it by hand.
    """
    for attempt in range(1, attempts + 1):
        try:
            if instance_id is None:
                found = cloud.find_instance(label)
                if found is None:
                    return True
                instance_id = found.id
            cloud.delete_instance(instance_id)
            say(f"{role} instance {instance_id} deleted")
            return True
        except CloudError as exc:
            say(f"deleting the {role} failed (attempt {attempt} of {attempts}): {exc}")
            if attempt < attempts:
                pause(min(2.0**attempt, 10.0))
    what = f"instance {instance_id}" if instance_id else f"the instance labelled {label}"
    say(f"the {role} could not be deleted. Delete {what} yourself (`linode-cli linodes delete "
        f"{instance_id or '<id>'}`, or in Cloud Manager): it is billed until deleted")
    return False
