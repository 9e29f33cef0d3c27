"""Labels and tags: what stager names and marks its resources with, and reads back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stager.cloud.tags import (
    format_ttl,
    parse_ttl,
    resource_label,
    run_of,
    stager_tags,
    volume_label,
)


def test_resource_label_is_a_valid_linode_label():
    assert resource_label("20261121-ab12", "train") == "stager-20261121-ab12-train-0"
    assert resource_label("r1", "builder", 3) == "stager-r1-builder-3"
    assert resource_label("run.v2", "gpu_node") == "stager-run.v2-gpu_node-0"


@pytest.mark.parametrize(("run_id", "role", "n"), [
    ("x" * 60, "train", 0),      # over 64 characters
    ("a--b", "train", 0),        # doubled symbol
    ("a", "tr..ain", 0),
    ("a", "tr__ain", 0),
    ("run id", "train", 0),      # a space
    ("run/1", "train", 0),
    ("", "train", 0),
    ("r1", "", 0),
    ("r1", "train", -1),
    ("r1", "train-", 0),         # "-" then "-": doubled
])
def test_resource_label_refuses_what_linode_would(run_id, role, n):
    with pytest.raises(ValueError):
        resource_label(run_id, role, n)


def test_volume_label_holds_the_stricter_volume_rule():
    assert volume_label("r1", "data") == "stager-r1-data-0"
    with pytest.raises(ValueError):
        volume_label("run.v2", "data")  # no periods in volume labels
    with pytest.raises(ValueError):
        volume_label("x" * 20, "data")  # over 32 characters


def test_stager_tags_with_a_deadline():
    deadline = datetime(2026, 11, 21, 15, 4, tzinfo=timezone.utc)
    assert stager_tags("r1", deadline) == ("stager", "run:r1", "ttl:2026-11-21T15:04Z")


def test_ttl_rounds_up_to_the_minute_and_converts_to_utc():
    plus_two = timezone(timedelta(hours=2))
    assert format_ttl(datetime(2026, 11, 21, 17, 4, 1, tzinfo=plus_two)) == "2026-11-21T15:05Z"
    assert format_ttl(datetime(2026, 11, 21, 23, 59, 30, tzinfo=timezone.utc)) == "2026-11-22T00:00Z"
    naive = datetime(2026, 1, 2, 3, 4)  # read as UTC
    assert stager_tags("r1", naive)[2] == "ttl:2026-01-02T03:04Z"


def test_stager_tags_with_a_duration_is_never_early():
    before = datetime.now(timezone.utc)
    tags = stager_tags("r1", timedelta(hours=2))
    deadline = parse_ttl(tags)
    assert before + timedelta(hours=2) <= deadline + timedelta(seconds=1)
    assert deadline <= before + timedelta(hours=2, minutes=1, seconds=5)


def test_every_tag_fits_linodes_3_to_50_characters():
    assert all(3 <= len(t) <= 50 for t in stager_tags("r" * 46, timedelta(hours=1)))
    with pytest.raises(ValueError):
        stager_tags("r" * 47, timedelta(hours=1))
    with pytest.raises(ValueError):
        stager_tags("", timedelta(hours=1))


def test_parse_ttl_and_run_of_read_the_tags_back():
    tags = ("other", "stager", "run:abc-1", "ttl:2026-11-21T15:04Z")
    assert parse_ttl(tags) == datetime(2026, 11, 21, 15, 4, tzinfo=timezone.utc)
    assert run_of(tags) == "abc-1"
    assert parse_ttl(["ttl:2026-11-21T15:04:05Z"]) == datetime(2026, 11, 21, 15, 4, 5, tzinfo=timezone.utc)


def test_missing_or_malformed_tags_read_as_none():
    assert parse_ttl(["stager", "run:x"]) is None
    assert parse_ttl(["ttl:tomorrow"]) is None  # never a guess that could make gc delete something
    assert run_of(["stager", "ttl:2026-11-21T15:04Z"]) is None
    assert run_of(["run:"]) is None
