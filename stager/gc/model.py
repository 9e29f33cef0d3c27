"""What ``stager gc`` reasons about: a resource found on the target, the facts about its run, a decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["KINDS", "Decision", "Found", "RunFacts"]

# The kinds gc collects, in the order it deletes them (instances first: they hold volumes and firewalls),
# named as the ledger names resources (stager.ledger.checks.RESOURCE_KINDS).
KINDS = ("instance", "volume", "firewall", "bucket_key", "image")


@dataclass(frozen=True)
class Found:
    """A stager resource on the target, reduced to what the rules read."""

    kind: str  # one of KINDS
    id: str  # the provider's id as text: "123", "private/45"
    label: str
    run_id: str | None  # its run: the run: tag; a key's label; an image's build: tag
    ttl: datetime | None  # the ttl: tag's deadline (UTC); None when it has none (keys, images, data volumes)
    status: str = ""  # the provider's status; "available" is what matters, for images
    created: datetime | None = None  # when the provider made it (UTC)
    dataset: bool = False  # a volume kept for a dataset between runs (tag stager-dataset)
    attached_to: int | None = None  # a volume's instance, if attached


@dataclass(frozen=True)
class RunFacts:
    """What stager knows on this machine about the run (or image build) a resource belongs to."""

    run_id: str
    state: str | None  # the ledger's state; None when the ledger does not know the run
    controller_alive: bool  # a process holds the run's lock (stager.run.lock)
    build_status: str | None = None  # the image build record's status when the id is a build's ("running", ...)
    build_deadline: datetime | None = None  # the latest ttl among the build's resources on the target


@dataclass(frozen=True)
class Decision:
    """Delete or keep, and why, in words for the user."""

    delete: bool
    reason: str
    fail_run: bool = False  # the run's controller is gone: record the run as failed in the ledger
