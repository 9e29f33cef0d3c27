"""Adopting gold-image build records (``$STAGER_HOME/images/builds/*.json``) into the ledger.

Builds are not runs, so they sit outside the run chains, in ``image_builds``,
keyed by build id: adopting the same build again changes nothing. A build still
``running`` is left for a later adoption, since its record will still change.

Records are taken by shape (any object with the ``BuildRecord`` fields), so the
ledger does not import the image builder, which sits above it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from stager.ledger.backend import Connection
from stager.ledger.chain import canonical
from stager.ledger.connection import immediate
from stager.ledger.guard import check_data

__all__ = ["adopt", "adopted_builds"]


def adopt(conn: Connection, builds: Iterable[Any], adopted: str) -> int:
    """Insert the finished builds not yet in the ledger; returns how many were new.

    Raises:
        ValueError: a record holds something that is not plain JSON or looks secret.
    """
    finished = [asdict(build) for build in builds if build.status != "running"]
    for record in finished:
        check_data(record, f"build {record.get('build_id')}")
    new = 0
    with immediate(conn):
        for record in finished:
            cursor = conn.execute(
                "INSERT INTO image_builds (build_id, recipe_hash, image_id, status, target, started, estimated_usd, "
                "record, adopted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (build_id) DO NOTHING",
                (record["build_id"], record["recipe_hash"], record.get("image_id"), record["status"],
                 record["target"], record["started"], record.get("estimated_usd"), canonical(record), adopted))
            new += cursor.rowcount
    return new


def adopted_builds(conn: Connection, image_id: str | None = None) -> list[dict]:
    """The adopted build records as they were written (dicts with BuildRecord's fields), oldest first."""
    where, params = ("WHERE image_id = ?", (image_id,)) if image_id is not None else ("", ())
    return [json.loads(row[0]) for row in
            conn.execute(f"SELECT record FROM image_builds {where} ORDER BY started, build_id", params)]
