"""What the ledger hands back: plain dataclasses, times as aware UTC datetimes, JSON on request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from stager.ledger.states import is_finished

__all__ = ["INSTANCE_ENVIRONMENT", "ArtifactRecord", "CostRecord", "DatasetRecord", "EventRecord", "ImageRecord",
           "ResourceRecord", "RunRecord", "RunSummary", "Transition", "to_json"]

INSTANCE_ENVIRONMENT = "instance.environment"  # the event kind of the training instance's packages and Python


def to_json(value: object) -> object:
    """``value`` (a dataclass, list or dict of them) as JSON-ready data; datetimes become ISO text."""
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class Transition:
    state: str
    time: datetime
    reason: str | None = None  # why, for failed/aborted/resumed especially


@dataclass
class EventRecord:
    seq: int  # position in the run's hash chain
    time: datetime
    kind: str  # e.g. "train.epoch", "teardown.retry"
    data: dict


@dataclass
class ResourceRecord:
    run_id: str
    kind: str  # instance | volume | firewall | key | image | bucket_key
    provider_id: str  # the provider's id, as text (Linode's are numbers)
    label: str
    plan: str | None
    region: str | None
    hourly_usd: float | None  # price while it lives; None for free resources
    monthly_usd: float | None  # the plan's monthly cap, when known
    created: datetime
    deleted: datetime | None = None
    billed_hours: int | None = None  # whole started hours, set at deletion
    usd: float | None = None  # billed_hours × hourly_usd (capped), set at deletion

    @property
    def live(self) -> bool:
        return self.deleted is None


@dataclass
class ArtifactRecord:
    path: str  # relative to the run's folder, e.g. "checkpoints/last.ckpt"
    location: str  # where it is kept: "runs/<id>/..." or "s3://bucket/..."
    size: int  # bytes
    sha256: str
    time: datetime


@dataclass
class DatasetRecord:
    name: str
    digest: str  # the manifest's digest: the dataset's identity
    ok: bool  # whether validation passed
    time: datetime


@dataclass
class ImageRecord:
    image_id: str  # e.g. "private/12"
    recipe_hash: str
    time: datetime


@dataclass
class CostRecord:
    estimated_usd: float | None
    actual_usd: float | None
    time: datetime


@dataclass
class RunSummary:
    id: str
    pipeline: str
    pipeline_file: str
    target: str
    sprint_id: str | None
    state: str  # the latest transition
    created: datetime
    finished: datetime | None  # when it reached succeeded/failed/aborted; None while it runs
    estimated_usd: float | None  # the latest estimate recorded
    actual_usd: float | None  # the latest actual recorded, else the sum billed for deleted resources

    @property
    def is_finished(self) -> bool:
        return is_finished(self.state)

    def duration(self, now: datetime | None = None) -> timedelta:
        """Created to finished, or to ``now`` for a run still going."""
        end = self.finished or now or datetime.now(timezone.utc)
        return end - self.created

    def to_json(self) -> dict:
        data = to_json(self)
        data["duration_s"] = round(self.duration().total_seconds(), 3)  # type: ignore[index]
        return data  # type: ignore[return-value]


@dataclass
class RunRecord(RunSummary):
    spec: dict = field(default_factory=dict)  # the resolved pipeline, secrets redacted
    versions: dict = field(default_factory=dict)  # {"stager", "torch", "python", ...}
    git: dict | None = None  # the user's project: {"commit", "dirty", ...}
    transitions: list[Transition] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)  # free-form events; records have their own lists
    resources: list[ResourceRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    costs: list[CostRecord] = field(default_factory=list)
    head_hash: str | None = None  # the chain's newest hash: keep a copy to detect truncation later

    @property
    def billed_usd(self) -> float | None:
        """What deleted resources cost by Linode's rule; None when none had a price."""
        amounts = [r.usd for r in self.resources if r.usd is not None]
        return round(sum(amounts), 4) if amounts else None

    @property
    def live_resources(self) -> list[ResourceRecord]:
        return [r for r in self.resources if r.live]

    @property
    def instance_environment(self) -> dict | None:
        """What the training instance had (python, platform, packages): its latest report; None before training."""
        reports = [e.data for e in self.events if e.kind == INSTANCE_ENVIRONMENT]
        return reports[-1] if reports else None
