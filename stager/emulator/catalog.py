"""What the emulated Linode sells: regions, plans and their prices.

Plan ids, specs and prices are Linode's (see linode-facts.md beside the API spec);
the RTX 4000 Ada hourly price is unconfirmed there and kept as configuration.
Only RTX 6000 regions list the ``GPU Linodes`` capability, as on Linode.

Linode prices a few regions on their own (Jakarta and Sao Paulo, 20-40% above
the default), none of which the emulator serves; so one plan has a made-up
price of that kind in ap-west, for clients' per-region path to be exercised.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_CAPABILITY = "GPU Linodes"
_BASE_CAPABILITIES = ["Linodes", "Block Storage", "Object Storage", "Cloud Firewall", "Vlans", "Metadata"]


@dataclass(frozen=True)
class Region:
    id: str
    label: str  # Linode's city label
    country: str
    gpu: bool  # sells RTX 6000 plans
    s3_cluster: str  # the Object Storage cluster / endpoint prefix of this region

    def to_api(self) -> dict:
        capabilities = list(_BASE_CAPABILITIES) + ([GPU_CAPABILITY] if self.gpu else [])
        return {
            "id": self.id, "label": self.label, "country": self.country, "capabilities": capabilities,
            "status": "ok", "site_type": "core",
            "resolvers": {"ipv4": "127.0.0.53", "ipv6": "::1"},
            "placement_group_limits": {"maximum_linodes_per_pg": 5, "maximum_pgs_per_customer": None},
        }


REGIONS = [
    Region("us-east", "Newark, NJ", "us", True, "us-east-1"),
    Region("us-southeast", "Atlanta, GA", "us", True, "us-southeast-1"),
    Region("us-ord", "Chicago, IL", "us", False, "us-ord-1"),
    Region("eu-central", "Frankfurt, DE", "de", True, "eu-central-1"),
    Region("ap-west", "Mumbai, IN", "in", True, "ap-west-1"),
    Region("ap-south", "Singapore, SG", "sg", True, "ap-south-1"),
]


@dataclass(frozen=True)
class Plan:
    id: str
    label: str
    plan_class: str  # nanode | standard | dedicated | gpu
    vcpus: int
    memory_mb: int
    disk_mb: int
    gpus: int
    hourly: float  # USD per hour, billed in whole hours
    monthly: float  # USD, the cap on a month's hourly charges
    transfer_gb: int
    network_out_mbps: int
    region_prices: tuple[tuple[str, float, float], ...] = ()  # (region, hourly, monthly) where a region differs

    def to_api(self) -> dict:
        return {
            "id": self.id, "label": self.label, "class": self.plan_class,
            "vcpus": self.vcpus, "memory": self.memory_mb, "disk": self.disk_mb, "gpus": self.gpus,
            "transfer": self.transfer_gb, "network_out": self.network_out_mbps,
            "price": {"hourly": self.hourly, "monthly": self.monthly},
            "region_prices": [{"id": r, "hourly": h, "monthly": m} for r, h, m in self.region_prices],
            "addons": {"backups": {"price": {"hourly": round(self.monthly * 0.25 / 730, 4),
                                             "monthly": round(self.monthly * 0.25, 2)},
                                   "region_prices": []}},
            "successor": None,
        }


PLANS = [
    Plan("g6-nanode-1", "Nanode 1GB", "nanode", 1, 1024, 25600, 0, 0.0075, 5.0, 1000, 1000),
    Plan("g6-standard-2", "Linode 4GB", "standard", 2, 4096, 81920, 0, 0.036, 24.0, 4000, 4000),
    Plan("g6-dedicated-2", "Dedicated 4GB", "dedicated", 2, 4096, 81920, 0, 0.054, 36.0, 4000, 4000),
    Plan("g1-gpu-rtx6000-1", "Dedicated 32GB + RTX6000 GPU x1", "gpu", 8, 32768, 655360, 1, 1.5, 1000.0, 16000, 10000,
         region_prices=(("ap-west", 1.8, 1200.0),)),
    Plan("g1-gpu-rtx6000-2", "Dedicated 64GB + RTX6000 GPU x2", "gpu", 16, 65536, 1310720, 2, 3.0, 2000.0, 20000, 10000),
    Plan("g1-gpu-rtx6000-3", "Dedicated 96GB + RTX6000 GPU x3", "gpu", 20, 98304, 1966080, 3, 4.5, 3000.0, 20000, 10000),
    Plan("g1-gpu-rtx6000-4", "Dedicated 128GB + RTX6000 GPU x4", "gpu", 24, 131072, 2621440, 4, 6.0, 4000.0, 20000, 10000),
    Plan("g2-gpu-rtx4000a1-s", "RTX4000 Ada x1 Small", "gpu", 4, 16384, 512000, 1, 0.52, 350.0, 1000, 10000),
]

PUBLIC_IMAGES = {
    "linode/ubuntu24.04": "Ubuntu 24.04 LTS",
    "linode/ubuntu22.04": "Ubuntu 22.04 LTS",
    "linode/debian12": "Debian 12",
}


def region(region_id: str) -> Region | None:
    return next((r for r in REGIONS if r.id == region_id), None)


def plan(plan_id: str) -> Plan | None:
    return next((p for p in PLANS if p.id == plan_id), None)
