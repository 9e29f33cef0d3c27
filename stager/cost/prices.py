"""Plan prices from Linode's ``/linode/types``, cached on disk with the date they were read.

Sprints are priced often and Linode changes prices rarely, so the catalogue is read at most
once a day per target into ``<home>/cache/prices-<target>.json``: the emulator's prices
(``local``) never mix with Linode's (``linode``). Pricing must work when the API does not:
then the last cache serves however old (and says it is stale), else the offline catalogue.

Not exact: a plan's monthly cap in a region with its own price is the default cap scaled like
the hourly price, as ``PlanInfo`` keeps only the region's hourly price (Linode scales both alike).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stager.errors import StagerError, UsageError

__all__ = ["OFFLINE_SOURCE", "PlanPrice", "PriceBook", "load_prices", "offline_prices"]

OFFLINE_SOURCE = "offline catalogue"
CACHE_FORMAT = 1  # bumped when the cache file's shape changes; a file in another format counts as no cache
_TARGET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")  # it becomes part of a file name


@dataclass(frozen=True)
class PlanPrice:
    """What one plan costs."""

    gpus: int  # 0 for CPU plans
    hourly_usd: float  # the default price; billed per started hour
    monthly_usd: float  # the cap on a month's hourly charges
    region_prices: dict[str, float] = field(default_factory=dict)  # hourly price where a region has its own


@dataclass(frozen=True)
class PriceBook:
    """Every plan's prices, where they came from and when they were read."""

    fetched: datetime | None  # UTC, when the API was read; None for the offline catalogue
    source: str  # "/linode/types at api.linode.com" or "offline catalogue"
    plans: Mapping[str, PlanPrice]  # by plan id
    stale: bool = False  # a cache older than wanted, kept because the API could not be read

    def price(self, plan: str) -> PlanPrice:
        """The prices of ``plan``. Raises UsageError, naming the GPU plans, for a plan the book lacks."""
        found = self.plans.get(plan)
        if found is None:
            gpu = ", ".join(sorted(p for p, price in self.plans.items() if price.gpus))
            raise UsageError(f"no price for plan {plan!r} in the {self.source}; GPU plans: {gpu or 'none listed'}")
        return found

    def hourly(self, plan: str, region: str) -> float:
        """The hourly price of ``plan`` in ``region``: its own when Linode lists one, else the default."""
        price = self.price(plan)
        return price.region_prices.get(region, price.hourly_usd)

    def monthly(self, plan: str, region: str) -> float:
        """The monthly cap of ``plan`` in ``region`` (scaled like the hourly price where the region has its own)."""
        price = self.price(plan)
        own = price.region_prices.get(region)
        if own is None or not price.hourly_usd:
            return price.monthly_usd
        return round(price.monthly_usd * own / price.hourly_usd, 2)

    def gpus(self, plan: str) -> int:
        return self.price(plan).gpus

    def age(self, now: datetime) -> timedelta | None:  # None for the offline catalogue
        return None if self.fetched is None else _utc(now) - self.fetched

    def describe(self, now: datetime) -> str:
        """One line, e.g. "prices from /linode/types at api.linode.com, read 3 h ago (2026-11-21 09:12 UTC)"."""
        if self.fetched is None:
            return f"prices from the {self.source}"
        text = f"prices from {self.source}, read {_ago(self.age(now))} ({self.fetched:%Y-%m-%d %H:%M} UTC)"
        return text + ("; stale: the API could not be read to renew them" if self.stale else "")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``stale`` is not kept (it says how the book was loaded, not what it holds)."""
        return {"format": CACHE_FORMAT, "source": self.source, "fetched": self.fetched and self.fetched.isoformat(),
                "plans": {plan_id: asdict(price) for plan_id, price in self.plans.items()}}

    @classmethod
    def from_json(cls, data: Any) -> PriceBook:
        """The book ``to_json`` wrote. Raises ValueError for anything else (another format, a missing field)."""
        try:
            if data["format"] != CACHE_FORMAT:
                raise ValueError(f"price book format {data['format']!r}, not {CACHE_FORMAT}")
            fetched = _utc(datetime.fromisoformat(data["fetched"])) if data["fetched"] is not None else None
            plans = {str(plan_id): PlanPrice(int(p["gpus"]), float(p["hourly_usd"]), float(p["monthly_usd"]),
                                             {str(r): float(h) for r, h in p["region_prices"].items()})
                     for plan_id, p in data["plans"].items()}
            return cls(fetched, str(data["source"]), plans)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a price book: {type(exc).__name__} {exc}") from None


def offline_prices() -> PriceBook:
    """The prices in stager's offline copy of Linode's catalogue."""
    from stager.emulator.catalog import PLANS

    plans = {p.id: PlanPrice(p.gpus, p.hourly, p.monthly, {r: hourly for r, hourly, _ in p.region_prices})
             for p in PLANS}
    return PriceBook(None, OFFLINE_SOURCE, plans)


def load_prices(cloud, *, home: Path, target: str, now: datetime | None = None,
                max_age: timedelta = timedelta(days=1), refresh: bool = False) -> PriceBook:
    """The prices of ``target``: the cache when younger than ``max_age``, else ``cloud.plans()`` (cached anew).

    ``cloud`` has ``plans()`` giving ``stager.cloud.PlanInfo`` items (and ``base_url``), or is None.
    ``refresh`` reads the API whatever the cache's age. When the API cannot be read, the
    cache serves however old, else the offline catalogue; a corrupt cache counts as none.

    Raises:
        UsageError: ``target`` is not a plain name such as "local" or "linode".
    """
    if not _TARGET_NAME.fullmatch(target):
        raise UsageError(f"target {target!r} cannot name a price cache; use a name such as local or linode")
    now = _utc(now or datetime.now(timezone.utc))
    path = Path(home) / "cache" / f"prices-{target}.json"
    cached = _read_cache(path)
    if cached is not None and not refresh and _fresh(cached, now, max_age):
        return cached
    live = _read_api(cloud, now)
    if live is not None:
        _write_cache(path, live)
        return live
    if cached is not None:
        return replace(cached, stale=not _fresh(cached, now, max_age))
    return offline_prices()


def _read_api(cloud, now: datetime) -> PriceBook | None:
    try:
        plans = list(cloud.plans()) if cloud is not None else []
    except StagerError:
        return None
    if not plans:  # no cloud open, or an empty catalogue, which prices nothing: the fallbacks do better
        return None
    host = urlsplit(str(getattr(cloud, "base_url", "") or "")).hostname
    source = f"/linode/types at {host}" if host else "/linode/types"
    return PriceBook(now, source, {p.id: PlanPrice(p.gpus, p.hourly_usd, p.monthly_usd, dict(p.region_prices))
                                   for p in plans})


def _read_cache(path: Path) -> PriceBook | None:
    try:
        book = PriceBook.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):  # missing, unreadable or corrupt: as if there were none
        return None
    return book if book.fetched is not None else None


def _write_cache(path: Path, book: PriceBook) -> None:
    # Renamed over the cache when complete: a reader never sees half a file. Failing costs an API read next time.
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(book.to_json(), out, indent=1, sort_keys=True)
        os.replace(temp, path)
    except OSError:
        pass
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)


def _fresh(book: PriceBook, now: datetime, max_age: timedelta) -> bool:
    age = book.age(now)
    return age is not None and timedelta(0) <= age <= max_age  # a date in the future is a clock to distrust


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _ago(age: timedelta | None) -> str:
    seconds = max(0, int(age.total_seconds())) if age is not None else 0
    if seconds >= 2 * 86400:  # hours up to two days, then days
        return f"{seconds // 86400} d ago"
    if seconds >= 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 60} min ago" if seconds >= 60 else "just now"
