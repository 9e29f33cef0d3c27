"""The typed tables beside the event chain, and how a row maps to the event data that recorded it.

Every record (a transition, a resource, an artifact, ...) is written twice in one
transaction: as an event in the run's hash chain, whose ``data`` is the record's
content, and as a row of its own table for queries, pointing at that event by
``event_id``. The audit compares the two, so an edit to either is found.
``runs`` is the exception: its row is the content of the run's first event
(``run.created``, seq 1), matched by run id.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

__all__ = ["ARTIFACTS", "COSTS", "DATASETS", "IMAGES", "RECORD_TABLES", "RESOURCES", "RESOURCE_DELETIONS", "RUNS",
           "RecordTable", "TRANSITIONS"]


@dataclass(frozen=True)
class RecordTable:
    kind: str  # the event kind that records a row of this table
    name: str  # the SQL table
    columns: tuple[str, ...]  # the content columns, in the order they are inserted
    json_columns: frozenset[str] = field(default_factory=frozenset)  # stored as JSON text
    bool_columns: frozenset[str] = field(default_factory=frozenset)  # stored as 0/1

    def values(self, content: dict) -> list:
        """The SQL values of ``content``, in ``columns`` order."""
        out = []
        for column in self.columns:
            value = content.get(column)
            if column in self.json_columns and value is not None:
                value = json.dumps(value, sort_keys=True)
            elif column in self.bool_columns and value is not None:
                value = int(bool(value))
            out.append(value)
        return out

    def content(self, row: sqlite3.Row) -> dict:
        """A stored row back in the form of the event data that recorded it."""
        out = {}
        for column in self.columns:
            value = row[column]
            if column in self.json_columns and value is not None:
                value = json.loads(value)
            elif column in self.bool_columns and value is not None:
                value = bool(value)
            out[column] = value
        return out


RUNS = RecordTable("run.created", "runs",
                   ("pipeline", "pipeline_file", "target", "created", "spec", "versions", "git", "git_commit",
                    "git_dirty", "sprint_id"),
                   json_columns=frozenset({"spec", "versions", "git"}), bool_columns=frozenset({"git_dirty"}))
TRANSITIONS = RecordTable("state", "transitions", ("state", "reason"))
RESOURCES = RecordTable("resource.created", "resources",
                        ("kind", "provider_id", "label", "plan", "region", "hourly_usd", "monthly_usd"))
# created_seq: the seq of the resource.created event of the same run this deletion ends.
RESOURCE_DELETIONS = RecordTable("resource.deleted", "resource_deletions",
                                 ("kind", "provider_id", "created_seq", "billed_hours", "usd"))
ARTIFACTS = RecordTable("artifact", "artifacts", ("path", "location", "size", "sha256"))
DATASETS = RecordTable("dataset", "datasets", ("name", "digest", "ok"), bool_columns=frozenset({"ok"}))
IMAGES = RecordTable("image", "images", ("image_id", "recipe_hash"))
COSTS = RecordTable("cost", "costs", ("estimated_usd", "actual_usd"))

# Every table whose rows hang off an event (all but runs).
RECORD_TABLES = (TRANSITIONS, RESOURCES, RESOURCE_DELETIONS, ARTIFACTS, DATASETS, IMAGES, COSTS)
