"""Cloud Firewalls through the real linode_api4 client."""

from __future__ import annotations

import copy

import pytest
from linode_api4 import ApiError, Firewall
from linode_api4.objects.networking import FirewallDevice

SSH_IN = {"action": "ACCEPT", "protocol": "TCP", "ports": "22", "label": "ssh-in",
          "addresses": {"ipv4": ["127.0.0.1/32"], "ipv6": []}}
RULES = {"inbound": [SSH_IN], "inbound_policy": "DROP", "outbound": [], "outbound_policy": "ACCEPT"}


def _rules(**change) -> dict:
    rules = copy.deepcopy(RULES)
    rules.update(change)
    return rules


def _rule(**change) -> dict:
    rule = copy.deepcopy(SSH_IN)
    rule.update(change)
    return rule


def _field(excinfo) -> str | None:
    return excinfo.value.json["errors"][0].get("field")


def _actions(api) -> list[str]:
    return [e.action for e in api.backend.events.events.values() if e.action.startswith("firewall_")]


def test_create_get_list_update_delete(api):
    client = api.client
    firewall = client.networking.firewall_create("run-1-fw", RULES, tags=["stager"])
    assert firewall.status == "enabled" and firewall.tags == ["stager"]
    assert firewall.rules.inbound[0].ports == "22" and firewall.rules.version == 1
    assert len(firewall.rules.fingerprint) == 8

    fetched = client.load(Firewall, firewall.id)
    assert fetched.label == "run-1-fw" and fetched.rules.inbound_policy == "DROP"
    client.networking.firewall_create("other-fw", RULES)
    assert sorted(f.label for f in client.networking.firewalls()) == ["other-fw", "run-1-fw"]
    assert [f.label for f in client.networking.firewalls(Firewall.label == "other-fw")] == ["other-fw"]

    fetched.label = "renamed-fw"
    fetched.status = "disabled"
    fetched.save()
    again = client.load(Firewall, firewall.id)
    assert (again.label, again.status) == ("renamed-fw", "disabled")

    again.delete()
    with pytest.raises(ApiError) as excinfo:
        client.load(Firewall, firewall.id)
    assert excinfo.value.status == 404
    assert _actions(api) == ["firewall_create", "firewall_create", "firewall_update", "firewall_disable",
                             "firewall_delete"]


def test_rules_get_and_put(api):
    firewall = api.client.networking.firewall_create("rules-fw", RULES)
    before = firewall.get_rules()
    assert before["version"] == 1 and before["inbound"][0]["addresses"]["ipv4"] == ["127.0.0.1/32"]

    https = _rule(ports="80,443", label="web", description="web in")
    firewall.update_rules(_rules(inbound=[SSH_IN, https], outbound_policy="DROP"))
    after = firewall.get_rules()
    assert after["version"] == 2 and after["fingerprint"] != before["fingerprint"]
    assert [r["ports"] for r in after["inbound"]] == ["22", "80,443"] and after["outbound_policy"] == "DROP"
    assert firewall.rules.version == 2

    # A PUT of only the inbound rules keeps the rest; the same rules again change nothing.
    api.client.put(f"/networking/firewalls/{firewall.id}/rules", data={"inbound": [SSH_IN]})
    rules = firewall.get_rules()
    assert rules["version"] == 3 and rules["outbound_policy"] == "DROP" and len(rules["inbound"]) == 1
    api.client.put(f"/networking/firewalls/{firewall.id}/rules", data={"inbound": [SSH_IN]})
    assert firewall.get_rules()["version"] == 3

    with pytest.raises(ApiError) as excinfo:
        firewall.update_rules(_rules(inbound=[_rule(protocol="SCTP")]))
    assert excinfo.value.status == 400 and _field(excinfo) == "rules.inbound[0].protocol"
    with pytest.raises(ApiError) as excinfo:
        api.client.get("/networking/firewalls/999/rules")
    assert excinfo.value.status == 404


@pytest.mark.parametrize(("rules", "field"), [
    (_rules(inbound=[_rule(action="ALLOW")]), "rules.inbound[0].action"),
    (_rules(inbound=[_rule(protocol="tcp")]), "rules.inbound[0].protocol"),
    (_rules(inbound=[_rule(ports="0")]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(ports="70000")]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(ports="2000-1000")]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(ports="22;80")]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(ports=",".join(str(p) for p in range(1, 17)))]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(protocol="ICMP")]), "rules.inbound[0].ports"),
    (_rules(inbound=[_rule(addresses={"ipv4": ["300.1.1.1/32"]})]), "rules.inbound[0].addresses.ipv4"),
    (_rules(inbound=[_rule(addresses={"ipv4": ["::/0"]})]), "rules.inbound[0].addresses.ipv4"),
    (_rules(inbound=[_rule(addresses={"ipv6": ["127.0.0.0/8"]})]), "rules.inbound[0].addresses.ipv6"),
    (_rules(inbound=[_rule(addresses={"ipv4": [], "ipv6": []})]), "rules.inbound[0].addresses"),
    (_rules(inbound=[_rule(addresses=None)]), "rules.inbound[0].addresses"),
    (_rules(inbound=[_rule(label="x")]), "rules.inbound[0].label"),
    (_rules(outbound=[_rule(description="d" * 101)]), "rules.outbound[0].description"),
    (_rules(inbound_policy="REJECT"), "rules.inbound_policy"),
    ({"inbound": [], "outbound": [], "outbound_policy": "ACCEPT"}, "rules.inbound_policy"),
    (_rules(inbound=[SSH_IN] * 13, outbound=[SSH_IN] * 13), "rules"),
    ("allow everything", "rules"),
])
def test_create_rejects_bad_rules(api, rules, field):
    with pytest.raises(ApiError) as excinfo:
        api.client.networking.firewall_create("bad-rules", rules)
    assert excinfo.value.status == 400 and _field(excinfo) == field
    assert not api.backend.firewalls.firewalls


def test_good_rules_are_accepted(api):
    rules = _rules(inbound=[_rule(ports="1000-2000, 8080"), _rule(protocol="ICMP", ports=None),
                            _rule(protocol="UDP", addresses={"ipv4": ["127.0.0.2"], "ipv6": ["::1/128"]})])
    firewall = api.client.networking.firewall_create("good-rules", rules)
    assert [r.get("ports") for r in firewall.get_rules()["inbound"]] == ["1000-2000,8080", None, "22"]


def test_labels(api):
    api.client.networking.firewall_create("taken-fw", RULES)
    for label in ("taken-fw", "ab", "a" * 33, "bad label", "-dash"):
        with pytest.raises(ApiError) as excinfo:
            api.client.networking.firewall_create(label, RULES)
        assert excinfo.value.status == 400 and _field(excinfo) == "label"
    with pytest.raises(ApiError) as excinfo:
        api.client.post("/networking/firewalls", data={"label": "no-rules"})
    assert _field(excinfo) == "rules"
    other = api.client.networking.firewall_create("other-fw", RULES)
    other.label = "taken-fw"
    with pytest.raises(ApiError) as excinfo:
        other.save()
    assert excinfo.value.status == 400
    with pytest.raises(ApiError) as excinfo:
        api.client.put(f"/networking/firewalls/{other.id}", data={"status": "deleted"})
    assert _field(excinfo) == "status"


def test_devices(api):
    client = api.client
    first, second = api.instance("node-1"), api.instance("node-2")
    firewall = client.networking.firewall_create("devices-fw", RULES, devices={"linodes": [first.id]})
    [device] = firewall.devices
    assert device.entity.id == first.id and device.entity.type == "linode"
    assert device.entity.url == f"/v4/linode/instances/{first.id}"

    added = firewall.device_create(second.id)
    assert added.entity.label == "node-2"
    assert sorted(d.entity.id for d in client.load(Firewall, firewall.id).devices) == [first.id, second.id]
    fetched = client.load(FirewallDevice, added.id, firewall.id)
    assert fetched.entity.id == second.id
    assert [f.id for f in second.firewalls()] == [firewall.id]
    assert [f.id for f in api.backend.firewalls.protecting(second.id)] == [firewall.id]

    with pytest.raises(ApiError) as excinfo:
        firewall.device_create(second.id)
    assert excinfo.value.status == 400  # already a device
    with pytest.raises(ApiError) as excinfo:
        firewall.device_create(4242)
    assert excinfo.value.status == 400 and _field(excinfo) == "id"
    with pytest.raises(ApiError) as excinfo:
        firewall.device_create(second.id, type="nodebalancer")
    assert _field(excinfo) == "type"

    fetched.delete()
    assert [d.entity.id for d in client.load(Firewall, firewall.id).devices] == [first.id]
    with pytest.raises(ApiError) as excinfo:
        client.get(f"/networking/firewalls/{firewall.id}/devices/{added.id}")
    assert excinfo.value.status == 404

    first.delete()  # an instance that goes stops being a device
    assert client.get(f"/networking/firewalls/{firewall.id}/devices")["results"] == 0
    assert "firewall_device_add" in _actions(api) and "firewall_device_remove" in _actions(api)


def test_create_with_bad_devices(api):
    for devices, field in (({"linodes": [999]}, "devices.linodes"), ({"nodebalancers": [1]}, "devices.nodebalancers"),
                           ({"linodes": "1"}, "devices.linodes")):
        with pytest.raises(ApiError) as excinfo:
            api.client.networking.firewall_create("bad-devices", RULES, devices=devices)
        assert excinfo.value.status == 400 and _field(excinfo) == field
    assert not api.backend.firewalls.firewalls


def test_one_enabled_firewall_per_linode(api):
    node = api.instance("guarded")
    api.client.networking.firewall_create("first-fw", RULES, devices={"linodes": [node.id]})
    with pytest.raises(ApiError) as excinfo:
        api.client.networking.firewall_create("second-fw", RULES, devices={"linodes": [node.id]})
    assert excinfo.value.status == 400
    second = api.client.networking.firewall_create("second-fw", RULES)
    second.status = "disabled"
    second.save()
    second.device_create(node.id)  # a disabled firewall may join
    second.status = "enabled"
    with pytest.raises(ApiError) as excinfo:
        second.save()  # but not be enabled next to the first
    assert excinfo.value.status == 400


def test_instance_create_with_a_firewall(api):
    firewall = api.client.networking.firewall_create("at-create", RULES)
    node = api.client.linode.instance_create("g6-nanode-1", "us-east", label="with-fw", firewall=firewall)
    assert [d.entity.id for d in firewall.devices] == [node.id]
    with pytest.raises(ApiError) as excinfo:
        api.client.linode.instance_create("g6-nanode-1", "us-east", label="no-fw", firewall=999)
    assert excinfo.value.status == 400 and _field(excinfo) == "firewall_id"


def test_missing_firewall_is_404_on_its_routes(api):
    for method, path in (("get", "/networking/firewalls/7"), ("delete", "/networking/firewalls/7"),
                         ("get", "/networking/firewalls/7/devices"), ("get", "/networking/firewalls/7/devices/1")):
        with pytest.raises(ApiError) as excinfo:
            getattr(api.client, method)(path)
        assert excinfo.value.status == 404
    with pytest.raises(ApiError) as excinfo:
        api.client.put("/networking/firewalls/7", data={"label": "abc"})
    assert excinfo.value.status == 404


def test_get_firewall_for_other_services(api):
    from stager.emulator.core.errors import BadRequest, NotFound

    service = api.backend.firewalls
    with pytest.raises(BadRequest) as excinfo:
        service.get_firewall(5, field="firewall_id")
    assert excinfo.value.field == "firewall_id"
    with pytest.raises(NotFound):
        service.get_firewall(5, field=None)


def test_scope_and_restart(make_api, tmp_path):
    first = make_api(tmp_path / "state")
    firewall = first.client.networking.firewall_create("durable-fw", RULES)
    firewall.update_rules(_rules(outbound_policy="DROP"))
    reader = first.client_for("firewall:read_only")
    assert [f.label for f in reader.networking.firewalls()] == ["durable-fw"]
    with pytest.raises(ApiError) as excinfo:
        reader.networking.firewall_create("nope-fw", RULES)
    assert excinfo.value.status == 403
    first.stop()

    second = make_api(tmp_path / "state")
    again = second.client.load(Firewall, firewall.id)
    assert again.rules.version == 2 and again.rules.outbound_policy == "DROP"
