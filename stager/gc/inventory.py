"""Everything stager left on a target, as ``Found``: tagged instances, volumes, firewalls and images, and keys.

Object Storage keys carry no tags: stager's are told apart by their label,
``stager-<run>-<role>-<n>`` (``stager.cloud.tags.resource_label``). A label is read
against the run and build ids this machine knows first, since run ids contain
dashes too; an id of stager's own shape is read from any other label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stager.cloud import LinodeCloud
from stager.cloud.tags import STAGER_TAG, parse_ttl, run_of
from stager.gc.model import Found
from stager.storage.volume import DATA_VOLUME_TAG

__all__ = ["BUILD_PREFIX", "inventory", "run_in_label"]

BUILD_PREFIX = "build:"  # the tag stager's gold images carry: build:<build id>
_KEY_PREFIX = f"{STAGER_TAG}-"
_STAGER_ID = re.compile(rf"{_KEY_PREFIX}([a-z]\d{{8}}-\d{{6}}-[0-9a-f]{{4}})-[A-Za-z0-9_.]+-\d+")


def run_in_label(label: str, known_ids: Iterable[str]) -> str | None:
    """The run id in a ``stager-<run>-<role>-<n>`` label, or None when it names none.

    Raises:
        Nothing.
    """
    if not label.startswith(_KEY_PREFIX):
        return None
    matches = [i for i in known_ids if label.startswith(f"{_KEY_PREFIX}{i}-")]
    if matches:
        return max(matches, key=len)  # "r1-2" over "r1" for stager-r1-2-key-0
    found = _STAGER_ID.fullmatch(label)
    return found.group(1) if found else None


def _build_of(tags: Iterable[str]) -> str | None:
    return next((t[len(BUILD_PREFIX):] for t in tags if t.startswith(BUILD_PREFIX) and len(t) > len(BUILD_PREFIX)),
                None)


def inventory(cloud: LinodeCloud, known_ids: Iterable[str]) -> list[Found]:
    """stager's resources on the target, in deletion order (instances, volumes, firewalls, keys, images).

    Raises:
        CloudError: a listing failed.
    """
    known_ids = list(known_ids)
    found: list[Found] = []
    for i in cloud.list_instances(tag=STAGER_TAG):
        found.append(Found("instance", str(i.id), i.label, run_of(i.tags), parse_ttl(i.tags), i.status, i.created))
    for v in cloud.list_volumes(tag=STAGER_TAG):
        found.append(Found("volume", str(v.id), v.label, run_of(v.tags), parse_ttl(v.tags), v.status,
                           dataset=DATA_VOLUME_TAG in v.tags, attached_to=v.linode_id))
    for f in cloud.list_firewalls(tag=STAGER_TAG):
        found.append(Found("firewall", str(f.id), f.label, run_of(f.tags), parse_ttl(f.tags)))
    for k in cloud.list_object_keys():
        if k.label.startswith(_KEY_PREFIX):
            found.append(Found("bucket_key", str(k.id), k.label, run_in_label(k.label, known_ids), None))
    for m in cloud.list_images(tag=STAGER_TAG):
        found.append(Found("image", m.id, m.label, _build_of(m.tags) or run_of(m.tags), None, m.status, m.created))
    return found
