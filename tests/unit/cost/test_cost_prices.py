"""The price book: when the cache is used, when the API is read, and what serves when it cannot be."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from stager.cloud.errors import CloudError
from stager.cloud.types import PlanInfo
from stager.cost.prices import PriceBook, load_prices, offline_prices
from stager.emulator.catalog import PLANS
from stager.errors import UsageError

T0 = datetime(2026, 11, 21, 9, 12, tzinfo=timezone.utc)


class Catalogue:
    """A cloud's catalogue as ``load_prices`` reads it: ``plans()``, and how many times it was asked."""

    base_url = "http://127.0.0.1:9/v4"

    def __init__(self, *, gpu_hourly: float = 1.5, fails: bool = False) -> None:
        self.gpu_hourly = gpu_hourly
        self.fails = fails
        self.reads = 0

    def plans(self) -> list[PlanInfo]:
        self.reads += 1
        if self.fails:
            raise CloudError("listing plans failed: could not reach the Linode API at http://127.0.0.1:9/v4")
        return [PlanInfo("g6-nanode-1", "Nanode 1GB", 0, 1, 1024, 25600, 0.0075, 5.0),
                PlanInfo("gpu-1", "GPU x1", 1, 8, 32768, 655360, self.gpu_hourly, 1000.0, {"ap-west": 1.8})]


def cache_files(home):
    return sorted(p.name for p in (home / "cache").iterdir())


def test_the_first_load_reads_the_api_and_caches_it_with_its_date(tmp_path):
    api = Catalogue()
    book = load_prices(api, home=tmp_path, target="linode", now=T0)
    assert api.reads == 1 and book.fetched == T0 and not book.stale
    assert book.source == "/linode/types at 127.0.0.1"
    assert cache_files(tmp_path) == ["prices-linode.json"]  # the temporary file was renamed, none is left
    assert PriceBook.from_json(json.loads((tmp_path / "cache" / "prices-linode.json").read_text())) == book


def test_a_load_within_a_day_uses_the_cache(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue(gpu_hourly=2.0)
    book = load_prices(api, home=tmp_path, target="linode", now=T0 + timedelta(hours=23))
    assert api.reads == 0 and book.hourly("gpu-1", "us-east") == 1.5 and book.fetched == T0


def test_a_cache_older_than_max_age_is_read_again(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue(gpu_hourly=2.0)
    later = T0 + timedelta(days=1, minutes=1)
    book = load_prices(api, home=tmp_path, target="linode", now=later)
    assert api.reads == 1 and book.hourly("gpu-1", "us-east") == 2.0 and book.fetched == later
    again = load_prices(Catalogue(), home=tmp_path, target="linode", now=later, max_age=timedelta(hours=1))
    assert again.fetched == later  # the renewed cache serves


def test_refresh_reads_the_api_whatever_the_cache_age(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue(gpu_hourly=2.0)
    book = load_prices(api, home=tmp_path, target="linode", now=T0 + timedelta(minutes=5), refresh=True)
    assert api.reads == 1 and book.hourly("gpu-1", "us-east") == 2.0


def test_a_cache_dated_in_the_future_is_not_trusted(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue()
    load_prices(api, home=tmp_path, target="linode", now=T0 - timedelta(hours=1))
    assert api.reads == 1


def test_the_targets_keep_separate_caches(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue(gpu_hourly=2.0)
    assert load_prices(api, home=tmp_path, target="local", now=T0).hourly("gpu-1", "us-east") == 2.0
    assert api.reads == 1 and cache_files(tmp_path) == ["prices-linode.json", "prices-local.json"]


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]", b'{"format": 1}', b'{"format": 99}',
                                     b'{"format": 1, "source": "x", "fetched": "yesterday", "plans": {}}'])
def test_a_corrupt_cache_is_ignored_and_replaced(tmp_path, content):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "prices-linode.json").write_bytes(content)
    api = Catalogue()
    book = load_prices(api, home=tmp_path, target="linode", now=T0)
    assert api.reads == 1 and book.fetched == T0
    assert load_prices(Catalogue(fails=True), home=tmp_path, target="linode", now=T0) == book


def test_a_corrupt_cache_and_no_api_give_the_offline_catalogue(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "prices-linode.json").write_text("{")
    book = load_prices(Catalogue(fails=True), home=tmp_path, target="linode", now=T0)
    assert book == offline_prices()


def test_an_unreachable_api_falls_back_to_a_stale_cache_and_says_so(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    api = Catalogue(fails=True)
    book = load_prices(api, home=tmp_path, target="linode", now=T0 + timedelta(days=3, hours=2))
    assert api.reads == 1 and book.stale and book.fetched == T0 and book.hourly("gpu-1", "us-east") == 1.5
    assert book.describe(T0 + timedelta(days=3, hours=2)) == (
        "prices from /linode/types at 127.0.0.1, read 3 d ago (2026-11-21 09:12 UTC); "
        "stale: the API could not be read to renew them")


def test_a_failed_refresh_keeps_a_fresh_cache_unmarked(tmp_path):
    load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    book = load_prices(Catalogue(fails=True), home=tmp_path, target="linode", now=T0, refresh=True)
    assert book.fetched == T0 and not book.stale


def test_without_a_cloud_or_cache_the_offline_catalogue_serves(tmp_path):
    book = load_prices(None, home=tmp_path, target="local", now=T0)
    assert book == offline_prices() and book.fetched is None and book.age(T0) is None
    assert book.describe(T0) == "prices from the offline catalogue"
    assert {p.id for p in PLANS} == set(book.plans) and not (tmp_path / "cache").exists()
    assert load_prices(Catalogue(fails=True), home=tmp_path, target="local", now=T0) == book


def test_an_unwritable_home_still_gives_prices(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("")
    book = load_prices(Catalogue(), home=home, target="linode", now=T0)
    assert book.fetched == T0 and book.hourly("g6-nanode-1", "us-east") == 0.0075


def test_a_region_with_its_own_price_uses_it(tmp_path):
    book = load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    assert book.hourly("gpu-1", "ap-west") == 1.8 and book.hourly("gpu-1", "us-east") == 1.5
    assert book.monthly("gpu-1", "ap-west") == 1200.0 and book.monthly("gpu-1", "us-east") == 1000.0
    assert book.gpus("gpu-1") == 1 and book.gpus("g6-nanode-1") == 0
    offline = offline_prices()
    assert offline.hourly("g1-gpu-rtx6000-1", "ap-west") == 1.8 and offline.hourly("g1-gpu-rtx6000-1", "us-east") == 1.5


def test_an_unknown_plan_is_a_usage_error_naming_the_gpu_plans():
    with pytest.raises(UsageError, match=r"no price for plan 'g9-imaginary' in the offline catalogue; GPU plans: "
                                         r"g1-gpu-rtx6000-1, .*g2-gpu-rtx4000a1-s"):
        offline_prices().hourly("g9-imaginary", "us-east")


@pytest.mark.parametrize("target", ["", "../linode", "Linode", "a/b"])
def test_a_target_that_cannot_name_a_file_is_refused(tmp_path, target):
    with pytest.raises(UsageError, match="cannot name a price cache"):
        load_prices(None, home=tmp_path, target=target, now=T0)


@pytest.mark.parametrize(("later", "ago"), [
    (timedelta(seconds=30), "just now"), (timedelta(minutes=42), "42 min ago"),
    (timedelta(hours=3, minutes=59), "3 h ago"), (timedelta(hours=47), "47 h ago"), (timedelta(days=9), "9 d ago")])
def test_describe_says_how_long_ago_and_when(tmp_path, later, ago):
    book = load_prices(Catalogue(), home=tmp_path, target="linode", now=T0)
    assert book.age(T0 + later) == later
    assert book.describe(T0 + later) == (
        f"prices from /linode/types at 127.0.0.1, read {ago} (2026-11-21 09:12 UTC)")


def test_a_book_survives_json():
    book = offline_prices()
    assert PriceBook.from_json(json.loads(json.dumps(book.to_json()))) == book
    dated = PriceBook(T0, "/linode/types at 127.0.0.1", book.plans)
    assert PriceBook.from_json(json.loads(json.dumps(dated.to_json()))) == dated
