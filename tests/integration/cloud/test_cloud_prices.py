"""The price book read from the emulator's ``/linode/types`` through linode_api4, and cached for a day."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

from linode_api4 import LinodeClient

from stager.cost.prices import load_prices, offline_prices
from stager.emulator.catalog import PLANS

T0 = datetime(2026, 11, 21, 9, 12, tzinfo=timezone.utc)
TYPES = ("GET", "/v4/linode/types")


def _type_reads(proxy) -> int:
    return sum(1 for method, path in proxy.forwarded if (method, path.split("?")[0]) == TYPES)


def _dead_base_url() -> str:
    # A loopback port that was just free: nothing answers there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v4"


def test_prices_come_from_the_api_and_match_the_catalogue(emulator, cloud, tmp_path):
    book = load_prices(cloud, home=tmp_path, target="local", now=T0)
    assert book.fetched == T0 and book.source == "/linode/types at 127.0.0.1" and not book.stale
    assert set(book.plans) == {p.id for p in PLANS}
    for plan in PLANS:
        assert (book.gpus(plan.id), book.hourly(plan.id, "us-east"), book.monthly(plan.id, "us-east")) == (
            plan.gpus, plan.hourly, plan.monthly)
        for region, hourly, monthly in plan.region_prices:
            assert (book.hourly(plan.id, region), book.monthly(plan.id, region)) == (hourly, monthly)
    assert book.hourly("g1-gpu-rtx6000-1", "ap-west") == 1.8  # the emulator's one per-region price
    assert book.plans == offline_prices().plans


def test_a_second_load_within_a_day_does_not_ask_the_api(emulator, lossy_proxy, cloud_for, tmp_path):
    def through_proxy():  # a new cloud each time: one LinodeCloud keeps the catalogue it read
        return cloud_for(LinodeClient(emulator.token, base_url=lossy_proxy.base_url))

    first = load_prices(through_proxy(), home=tmp_path, target="local", now=T0)
    assert _type_reads(lossy_proxy) >= 1
    reads = _type_reads(lossy_proxy)
    second = load_prices(through_proxy(), home=tmp_path, target="local", now=T0 + timedelta(hours=20))
    assert _type_reads(lossy_proxy) == reads and second == first
    later = T0 + timedelta(days=1, hours=1)
    third = load_prices(through_proxy(), home=tmp_path, target="local", now=later)
    assert _type_reads(lossy_proxy) > reads and third.fetched == later and third.plans == first.plans


def test_an_unreachable_api_leaves_the_cache_in_charge(emulator, cloud, cloud_for, tmp_path):
    load_prices(cloud, home=tmp_path, target="local", now=T0)
    dead = cloud_for(LinodeClient(emulator.token, base_url=_dead_base_url(), retry=False))
    later = T0 + timedelta(days=2, hours=5)
    book = load_prices(dead, home=tmp_path, target="local", now=later)
    assert book.stale and book.fetched == T0 and book.hourly("g1-gpu-rtx6000-1", "ap-west") == 1.8
    assert book.describe(later) == ("prices from /linode/types at 127.0.0.1, read 2 d ago (2026-11-21 09:12 UTC); "
                                    "stale: the API could not be read to renew them")
    fresh_home = tmp_path / "elsewhere"
    assert load_prices(dead, home=fresh_home, target="local", now=later) == offline_prices()
