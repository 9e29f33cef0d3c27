"""What Linode sells: plans with prices, regions, and where a GPU plan can go instead.

The catalogue changes rarely, so one ``LinodeCloud`` reads it once and keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable

from stager.cloud.api import ApiSession
from stager.cloud.convert import plan_info, raw_json
from stager.cloud.types import Alternative, PlanInfo
from stager.errors import UsageError

GPU_CAPABILITY = "GPU Linodes"


def rank_alternatives(plans: Iterable[PlanInfo], gpu_regions: Iterable[str], plan_id: str,
                      region: str) -> list[Alternative]:
    """Where ``plan_id`` in ``region`` could go instead, cheapest first.

    The same plan in the other regions that sell GPUs, and the other GPU plans in
    the same region (when it sells GPUs), each at its price there.

    Raises:
        Nothing: an unknown plan just has no same-plan alternatives.
    """
    plans = list(plans)
    gpu_regions = list(gpu_regions)
    wanted = next((p for p in plans if p.id == plan_id), None)
    found: list[Alternative] = []
    if wanted is not None:
        found += [Alternative(wanted.id, r, wanted.hourly_in(r)) for r in gpu_regions if r != region]
    if region in gpu_regions:
        found += [Alternative(p.id, region, p.hourly_in(region)) for p in plans if p.gpus and p.id != plan_id]
    return sorted(found, key=lambda a: (a.hourly_usd, a.plan, a.region))


class CatalogueOps(ApiSession):
    """Plans and regions, read once per ``LinodeCloud``."""

    _plans: list[PlanInfo] | None = None
    _regions: list[dict] | None = None

    def plans(self) -> list[PlanInfo]:
        """Every plan Linode lists (``/linode/types``), GPU plans included, with prices.

        Raises:
            CloudError: the catalogue could not be read.
        """
        if self._plans is None:
            self._plans = self.call("listing plans", lambda: [plan_info(t) for t in self._client.linode.types()])
        return list(self._plans)

    def plan(self, plan_id: str) -> PlanInfo:
        """One plan by id.

        Raises:
            UsageError: Linode sells no plan with that id (the message lists the GPU plans).
            CloudError: the catalogue could not be read.
        """
        plans = self.plans()
        found = next((p for p in plans if p.id == plan_id), None)
        if found is None:
            gpu = ", ".join(p.id for p in plans if p.gpus)
            raise UsageError(f"unknown plan {plan_id!r}; GPU plans: {gpu or 'none listed'}")
        return found

    def regions(self) -> list[str]:
        """The ids of every region.

        Raises:
            CloudError: the region list could not be read.
        """
        return [r["id"] for r in self._region_rows()]

    def gpu_regions(self) -> list[str]:
        """The ids of the regions that sell GPU plans (capability "GPU Linodes").

        Raises:
            CloudError: the region list could not be read.
        """
        return [r["id"] for r in self._region_rows() if GPU_CAPABILITY in (r.get("capabilities") or [])]

    def alternatives(self, plan_id: str, region: str) -> list[Alternative]:
        """Where else ``plan_id`` could go, cheapest first (see ``rank_alternatives``); [] if unknown.

        Never raises: it is called while reporting another failure.
        """
        try:
            return rank_alternatives(self.plans(), self.gpu_regions(), plan_id, region)
        except Exception:  # noqa: BLE001 - the capacity error matters more than its suggestions
            return []

    def _region_rows(self) -> list[dict]:
        if self._regions is None:
            self._regions = self.call("listing regions", lambda: [raw_json(r) for r in self._client.regions()])
        return self._regions
