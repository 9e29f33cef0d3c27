"""Regions, plans, profile and account; tokens, scopes, errors, pagination and filters."""

from __future__ import annotations

import pytest
import requests
from linode_api4 import ApiError, Instance, LinodeClient, Region, Type

FACT_PRICES = {  # linode-facts.md: hourly / monthly USD
    "g1-gpu-rtx6000-1": (1.5, 1000), "g1-gpu-rtx6000-2": (3.0, 2000), "g1-gpu-rtx6000-3": (4.5, 3000),
    "g1-gpu-rtx6000-4": (6.0, 4000), "g6-nanode-1": (0.0075, 5), "g6-standard-2": (0.036, 24),
    "g6-dedicated-2": (0.054, 36),
}


def test_types_carry_linode_plans_and_prices(client):
    types = {t.id: t for t in client.linode.types()}
    for plan_id, (hourly, monthly) in FACT_PRICES.items():
        assert types[plan_id].price.hourly == hourly
        assert types[plan_id].price.monthly == monthly
    gpu = types["g1-gpu-rtx6000-2"]
    assert (gpu.gpus, gpu.vcpus, gpu.memory, gpu.type_class) == (2, 16, 65536, "gpu")
    assert client.load(Type, "g6-nanode-1").vcpus == 1


def test_regions_and_gpu_capability(client):
    regions = {r.id: r for r in client.regions()}
    assert "GPU Linodes" in regions["us-east"].capabilities
    assert "GPU Linodes" not in regions["us-ord"].capabilities
    assert client.load(Region, "eu-central").country == "de"


def test_profile_and_account(client):
    assert client.profile().username == "stager"
    assert client.account().balance_uninvoiced == 0


def test_missing_or_unknown_token_is_401(emulator):
    response = requests.get(emulator.base_url + "/linode/instances", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"reason": "Invalid Token"}]}
    with pytest.raises(ApiError) as caught:
        LinodeClient("not-a-token", base_url=emulator.base_url).linode.instances()
    assert caught.value.status == 401


def test_token_scopes_are_enforced(emulator, ssh_key):
    read_only = LinodeClient(emulator.add_token("linodes:read_only"), base_url=emulator.base_url)
    assert list(read_only.linode.instances()) == []
    with pytest.raises(ApiError) as caught:
        read_only.linode.instance_create("g6-nanode-1", "us-east")
    assert caught.value.status == 403
    with pytest.raises(ApiError) as caught:
        read_only.images()
    assert caught.value.status == 403
    everything = LinodeClient(emulator.add_token("*"), base_url=emulator.base_url)
    assert everything.images()


def test_errors_name_the_field(client):
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("g6-nanode-1", "mars-1")
    assert caught.value.status == 400
    assert caught.value.json["errors"][0]["field"] == "region"
    with pytest.raises(ApiError) as caught:
        client.linode.instance_create("no-such-plan", "us-east")
    assert caught.value.json["errors"][0]["field"] == "type"


def test_unknown_paths_and_ids_are_404(client, emulator):
    with pytest.raises(ApiError) as caught:
        client.load(Instance, 999999)
    assert caught.value.status == 404
    response = requests.get(emulator.base_url + "/linode/nothing", timeout=10,
                            headers={"Authorization": f"Bearer {emulator.token}"})
    assert response.status_code == 404


def test_pagination_has_full_pages_and_page_size_bounds(emulator, spec_if_present):
    client = emulator.client(page_size=25)
    for n in range(60):  # created offline: no sandbox is booted for them
        client.linode.instance_create("g6-nanode-1", "us-east", label=f"page-{n:02d}", booted=False)
    listed = client.linode.instances()
    assert len(listed) == 60
    assert [i.label for i in listed] == [f"page-{n:02d}" for n in range(60)]
    headers = {"Authorization": f"Bearer {emulator.token}"}
    page2 = requests.get(emulator.base_url + "/linode/instances?page=2&page_size=25", headers=headers, timeout=10)
    assert (page2.json()["page"], page2.json()["pages"], page2.json()["results"]) == (2, 3, 60)
    assert len(page2.json()["data"]) == 25
    if spec_if_present is not None:
        spec_if_present.validate_response("GET", "/v4/linode/instances", 200, page2.json(),
                                          allow_extra=("disk_encryption",))
    for bad in ("24", "501"):
        response = requests.get(emulator.base_url + f"/linode/instances?page_size={bad}", headers=headers, timeout=10)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "page_size"
    for instance in listed:
        instance.delete()


def test_x_filter_filters_and_orders(client):
    for label, tags in (("alpha-1", ["stager", "run:1"]), ("beta-2", ["stager"]), ("gamma-3", [])):
        client.linode.instance_create("g6-nanode-1", "us-east", label=label, tags=tags, booted=False)
    tagged = client.linode.instances(Instance.tags.contains("stager"))
    assert sorted(i.label for i in tagged) == ["alpha-1", "beta-2"]
    assert [i.label for i in client.linode.instances(Instance.label == "beta-2")] == ["beta-2"]
    headers = {"X-Filter": '{"+order_by": "label", "+order": "desc"}'}
    response = requests.get(client.base_url + "/linode/instances", timeout=10,
                            headers={"Authorization": f"Bearer {client.token}", **headers})
    assert [i["label"] for i in response.json()["data"]] == ["gamma-3", "beta-2", "alpha-1"]
    bad = requests.get(client.base_url + "/linode/instances", timeout=10,
                       headers={"Authorization": f"Bearer {client.token}", "X-Filter": '{"root_pass": "x"}'})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "X-Filter"
    for instance in client.linode.instances():
        instance.delete()
