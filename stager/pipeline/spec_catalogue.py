"""Which plans and regions a pipeline may name: the catalogue its `compute` is checked against.

Loading a pipeline must work offline, so by default it is checked against
stager's copy of Linode's catalogue (`stager.emulator.catalog`, the same plans,
GPUs and regions the emulator sells). A caller that has read the live
``/linode/types`` and ``/regions`` passes a `Catalogue` built from them instead,
so a plan Linode added after this stager was released is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Catalogue"]

GPU_CAPABILITY = "GPU Linodes"  # what Linode's /regions lists for a region that sells GPU instances


@dataclass(frozen=True)
class Catalogue:
    plans: Mapping[str, int]  # plan id -> GPUs per instance (0 for CPU plans)
    regions: Mapping[str, bool]  # region id -> whether it sells GPU instances

    @classmethod
    def offline(cls) -> Catalogue:
        """stager's own copy of Linode's plans and regions."""
        from stager.emulator.catalog import PLANS, REGIONS

        return cls(plans={p.id: p.gpus for p in PLANS}, regions={r.id: r.gpu for r in REGIONS})

    @classmethod
    def from_api(cls, plans: Iterable, regions: Iterable[Mapping]) -> Catalogue:
        """From the live catalogue: plans with ``id`` and ``gpus`` (``stager.cloud.PlanInfo``),
        and ``/regions`` entries as the API returns them (``id``, ``capabilities``)."""
        return cls(plans={p.id: int(p.gpus or 0) for p in plans},
                   regions={r["id"]: GPU_CAPABILITY in (r.get("capabilities") or ()) for r in regions})

    def gpu_plans(self) -> list[str]:
        return sorted(p for p, gpus in self.plans.items() if gpus)

    def gpu_regions(self) -> list[str]:
        return sorted(r for r, gpu in self.regions.items() if gpu)
