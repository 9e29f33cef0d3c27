"""stager's audit store: every run, its states, resources, artifacts, data, image and cost, append-only.

``Ledger.open()`` opens (creating or upgrading) ``$STAGER_HOME/ledger.sqlite``.
See ``docs/ledger.md`` for the schema, the state machine and the hash chain.
"""

from __future__ import annotations

from stager.ledger.guard import check_data, is_secret_key
from stager.ledger.ledger import LEDGER_FILE, Ledger
from stager.ledger.records import (
    ArtifactRecord,
    CostRecord,
    DatasetRecord,
    EventRecord,
    ImageRecord,
    ResourceRecord,
    RunRecord,
    RunSummary,
    Transition,
)
from stager.ledger.states import RESUMED, STAGES, STATES, TERMINAL

__all__ = [
    "LEDGER_FILE",
    "RESUMED",
    "STAGES",
    "STATES",
    "TERMINAL",
    "ArtifactRecord",
    "CostRecord",
    "DatasetRecord",
    "EventRecord",
    "ImageRecord",
    "Ledger",
    "ResourceRecord",
    "RunRecord",
    "RunSummary",
    "Transition",
    "check_data",
    "is_secret_key",
]
