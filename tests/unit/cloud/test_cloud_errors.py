"""Error translation, capacity alternatives and JSON conversion, without a server."""

from __future__ import annotations

from datetime import datetime, timezone

from linode_api4 import ApiError

from stager.cloud.api import ApiFailure, translate
from stager.cloud.catalogue import rank_alternatives
from stager.cloud.convert import PRIVATE_NETWORK, instance_info, plan_info
from stager.cloud.errors import (
    CapacityError,
    CloudError,
    CloudTimeout,
    CredentialsError,
)
from stager.cloud.types import Alternative, InstanceSpec, PlanInfo
from stager.errors import EXIT_FAILED, EXIT_USAGE


def _plan(plan_id, gpus, hourly, region_prices=None):
    return PlanInfo(plan_id, plan_id, gpus, 8, 1024, 1024, hourly, hourly * 700, region_prices or {})


def test_error_types_carry_the_right_exit_codes():
    assert CloudError("x").exit_code == EXIT_FAILED
    assert CapacityError("p", "r", []).exit_code == EXIT_FAILED
    assert CloudTimeout("x", timeout=1).exit_code == EXIT_FAILED
    assert CredentialsError("x").exit_code == EXIT_USAGE


def test_capacity_message_lists_alternatives_with_prices_on_one_line():
    error = CapacityError("g1-gpu-rtx6000-1", "us-east",
                          [Alternative("g2-gpu-rtx4000a1-s", "us-east", 0.52),
                           Alternative("g1-gpu-rtx6000-1", "eu-central", 1.5)],
                          reason="No capacity for g1-gpu-rtx6000-1 in us-east")
    message = str(error)
    assert "\n" not in message
    assert message.startswith("no capacity for g1-gpu-rtx6000-1 in us-east")
    assert "g2-gpu-rtx4000a1-s in us-east at $0.52/h, g1-gpu-rtx6000-1 in eu-central at $1.50/h" in message
    assert "retry later" in str(CapacityError("p", "r", []))


def test_alternatives_are_the_same_plan_elsewhere_and_other_gpu_plans_here_cheapest_first():
    plans = [_plan("g6-nanode-1", 0, 0.0075), _plan("gpu-1", 1, 1.5, {"ap-west": 1.8}),
             _plan("gpu-2", 2, 3.0), _plan("ada-1", 1, 0.52)]
    found = rank_alternatives(plans, ["us-east", "ap-west", "eu-central"], "gpu-1", "us-east")
    assert found == [Alternative("ada-1", "us-east", 0.52), Alternative("gpu-1", "eu-central", 1.5),
                     Alternative("gpu-1", "ap-west", 1.8), Alternative("gpu-2", "us-east", 3.0)]
    # A region that sells no GPUs offers no other plans of its own.
    assert all(a.region != "us-ord" for a in rank_alternatives(plans, ["us-east"], "gpu-1", "us-ord"))


def _api_error(status, errors, headers=None):
    import requests

    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return ApiError("x", status=status, json={"errors": errors}, response=response)


def test_failures_become_one_line_messages_with_linodes_reasons():
    failure = ApiFailure.of(_api_error(400, [{"reason": "Label must be\nunique", "field": "label"},
                                             {"reason": "Bad region"}]))
    assert failure.reasons == "label: Label must be unique; Bad region"
    assert failure.mentions("unique", field="label") and not failure.mentions("unique", field="type")
    error = translate("creating instance x", failure)
    assert type(error) is CloudError and error.status == 400
    assert str(error) == "creating instance x failed: label: Label must be unique; Bad region (HTTP 400)"
    assert "HTTP 500" in str(translate("listing", ApiFailure.of(_api_error(500, []))))
    limited = ApiFailure.of(_api_error(429, [{"reason": "Too Many Requests"}], {"Retry-After": "7"}))
    assert limited.retry_after == "7" and "rate limit" in str(translate("listing", limited))


def test_401_and_403_say_how_to_fix_the_token():
    refused = translate("listing instances", ApiFailure.of(_api_error(401, [{"reason": "Invalid Token"}])))
    assert isinstance(refused, CredentialsError) and "LINODE_TOKEN" in str(refused)
    assert "profile/tokens" in str(refused)
    scoped = translate("listing images", ApiFailure.of(_api_error(403, [{"reason": "Unauthorized"}])))
    assert isinstance(scoped, CredentialsError) and "not allowed" in str(scoped)


def test_instance_json_becomes_neutral_info():
    private = str(PRIVATE_NETWORK.network_address + 261)  # an address from Linode's private range, listed first
    info = instance_info({"id": 5, "label": "a-b", "status": "running", "type": "g6-nanode-1", "region": "us-east",
                          "image": "linode/debian12", "ipv4": [private, "127.9.0.5"], "ssh_port": 2222,
                          "tags": ["stager"], "created": "2026-01-02T03:04:05"})
    assert (info.ipv4, info.private_ipv4, info.ssh_port) == ("127.9.0.5", private, 2222)
    assert info.created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    plain = instance_info({"id": 6, "ipv4": ["127.0.113.9"], "image": None, "created": None})
    assert (plain.ssh_port, plain.private_ipv4, plain.image, plain.created) == (22, None, None, None)


def test_plan_json_keeps_region_prices():
    plan = plan_info({"id": "g1-gpu-rtx6000-1", "label": "GPU", "gpus": 1, "vcpus": 8, "memory": 32768,
                      "disk": 655360, "price": {"hourly": 1.5, "monthly": 1000},
                      "region_prices": [{"id": "id-cgk", "hourly": 1.8, "monthly": 1200}]})
    assert plan.region_prices == {"id-cgk": 1.8}
    assert plan.hourly_in("id-cgk") == 1.8 and plan.hourly_in("us-east") == 1.5


def test_a_spec_repr_hides_user_data():
    spec = InstanceSpec("stager-r-a-0", "g6-nanode-1", "us-east", "linode/debian12", ("ssh-ed25519 AAAA",),
                        ("stager",), user_data="#cloud-config\nssh_keys: {ed25519_private: SECRET}\n")
    assert "SECRET" not in repr(spec) and "user_data=<" in repr(spec)
