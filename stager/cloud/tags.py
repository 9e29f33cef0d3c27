"""Names and tags stager puts on everything it creates, so it can find (and collect) them again.

Every resource is labelled ``stager-<run>-<role>-<n>`` and tagged ``stager``,
``run:<run id>`` and ``ttl:<UTC deadline>``. The label makes creates idempotent
(a retried create finds the first one by label); the tags let ``stager gc`` find
what a crashed run left behind and decide whether its time is up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

STAGER_TAG = "stager"
RUN_PREFIX = "run:"
TTL_PREFIX = "ttl:"
TTL_FORMAT = "%Y-%m-%dT%H:%MZ"  # minute precision keeps the tag short and readable

# Linode's rules: instance and image labels 3-64 characters of letters, digits and
# "._-", starting and ending with a letter or digit, never a doubled symbol.
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# Volumes are stricter: 1-32 characters, a letter first, no periods.
_VOLUME_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_TAG_MIN, _TAG_MAX = 3, 50


def resource_label(run_id: str, role: str, n: int = 0) -> str:
    """The label of a run's ``n``-th resource in ``role``: ``stager-<run>-<role>-<n>``.

    Raises:
        ValueError: the result is not a valid Linode label (3-64 characters of
            letters, digits, ``.``, ``_`` and ``-``, starting and ending with a letter
            or digit, no ``--``, ``__`` or ``..``), e.g. because the run id is too long.
    """
    label = _compose(run_id, role, n)
    if not 3 <= len(label) <= 64 or not _LABEL.match(label) or any(s in label for s in ("--", "__", "..")):
        raise ValueError(f"{label!r} is not a valid Linode label: 3-64 letters, digits, '.', '_' or '-', "
                         "starting and ending with a letter or digit, without a doubled symbol")
    return label


def volume_label(run_id: str, role: str, n: int = 0) -> str:
    """The label of a run's volume: ``stager-<run>-<role>-<n>``, held to Linode's volume rule.

    Raises:
        ValueError: the result is longer than 32 characters, or holds a character
            other than letters, digits, ``_`` and ``-``, or a doubled symbol.
    """
    label = _compose(run_id, role, n)
    if len(label) > 32 or not _VOLUME_LABEL.match(label) or "--" in label or "__" in label:
        raise ValueError(f"{label!r} is not a valid volume label: at most 32 letters, digits, '_' or '-', "
                         "starting with a letter, without a doubled symbol")
    return label


def _compose(run_id: str, role: str, n: int) -> str:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"resource number must be a non-negative integer, not {n!r}")
    if not run_id or not role:
        raise ValueError("run id and role must not be empty")
    return f"{STAGER_TAG}-{run_id}-{role}-{n}"


def stager_tags(run_id: str, ttl: datetime | timedelta) -> tuple[str, ...]:
    """The tags of everything a run creates: ``("stager", "run:<id>", "ttl:<UTC deadline>")``.

    ``ttl`` is a deadline or a duration from now. The deadline is rounded *up* to
    the minute, so a resource never looks expired before its time. A naive
    datetime is taken as UTC.

    Raises:
        ValueError: a tag would be outside Linode's 3-50 characters (a run id over
            46 characters), or the run id is empty.
    """
    if not run_id:
        raise ValueError("run id must not be empty")
    deadline = datetime.now(timezone.utc) + ttl if isinstance(ttl, timedelta) else ttl
    tags = (STAGER_TAG, RUN_PREFIX + run_id, TTL_PREFIX + format_ttl(deadline))
    for tag in tags:
        if not _TAG_MIN <= len(tag) <= _TAG_MAX:
            raise ValueError(f"tag {tag!r} must be {_TAG_MIN}-{_TAG_MAX} characters (run id too long?)")
    return tags


def format_ttl(deadline: datetime) -> str:
    """``deadline`` as the ttl tag writes it (UTC, minute precision, rounded up); naive means UTC.

    Raises:
        Nothing.
    """
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=timezone.utc)
    deadline = deadline.astimezone(timezone.utc)
    seconds = deadline.second + deadline.microsecond / 1e6
    rounded = deadline.replace(second=0, microsecond=0) + timedelta(minutes=math.ceil(seconds / 60))
    return rounded.strftime(TTL_FORMAT)


def parse_ttl(tags: Iterable[str]) -> datetime | None:
    """The deadline in a ``ttl:`` tag (timezone-aware UTC), or None when there is no readable one.

    A malformed ttl tag reads as None, so a caller collecting garbage never
    deletes something on a guess.

    Raises:
        Nothing.
    """
    for tag in tags:
        if tag.startswith(TTL_PREFIX):
            text = tag[len(TTL_PREFIX):]
            for fmt in (TTL_FORMAT, "%Y-%m-%dT%H:%M:%SZ"):
                try:
                    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
                except ValueError:
                    continue
    return None


def run_of(tags: Iterable[str]) -> str | None:
    """The run id in a ``run:`` tag, or None.

    Raises:
        Nothing.
    """
    for tag in tags:
        if tag.startswith(RUN_PREFIX) and len(tag) > len(RUN_PREFIX):
            return tag[len(RUN_PREFIX):]
    return None


def is_stager(tags: Iterable[str]) -> bool:
    """Whether the tags mark something stager created.

    Raises:
        Nothing.
    """
    return STAGER_TAG in tags
