"""Cloud Firewalls: rules and devices, recorded as Linode records them.

The rules are **recorded, not enforced**: every sandbox listens on a loopback
address of this machine, so there is no network path a rule could filter. What
is emulated is everything a client can observe through the API: the rules'
shape is validated as Linode validates it (actions, protocols, port lists,
CIDRs, at most 25 rules), each change bumps ``rules.version`` and the
``fingerprint``, devices come and go with their instances, and a Linode may
have only one *enabled* firewall at a time.

Not emulated: NodeBalancer and Linode-interface devices, rule history
(``/history``), firewall templates and settings.
"""

from __future__ import annotations

import ipaddress
import json
import re
import zlib
from dataclasses import asdict, dataclass, field

from stager.emulator.core.errors import BadRequest, NotFound, field_error, require
from stager.emulator.core.service import Service, check_label, check_tags

ACTIONS = ("ACCEPT", "DROP")
PROTOCOLS = ("TCP", "UDP", "ICMP", "IPENCAP")
MAX_RULES = 25  # inbound and outbound together
MAX_PORT_PIECES = 15
_PORT_PIECE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


@dataclass
class Device:
    id: int
    entity: dict  # {id, label, type, url}
    created: str
    updated: str

    def to_api(self) -> dict:
        return {"id": self.id, "entity": dict(self.entity), "created": self.created, "updated": self.updated}


@dataclass
class Firewall:
    id: int
    label: str
    status: str  # enabled | disabled
    created: str
    updated: str
    rules: dict  # inbound, inbound_policy, outbound, outbound_policy; as validated
    rules_version: int = 1
    tags: list[str] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)

    def entity(self) -> dict:
        return {"id": self.id, "label": self.label, "type": "firewall", "url": f"/v4/networking/firewalls/{self.id}"}

    def rules_api(self) -> dict:
        text = json.dumps(self.rules, sort_keys=True, separators=(",", ":"))
        return {**json.loads(text), "fingerprint": f"{zlib.crc32(text.encode()):08x}", "version": self.rules_version}

    def to_api(self) -> dict:
        return {"id": self.id, "label": self.label, "status": self.status, "created": self.created,
                "updated": self.updated, "tags": list(self.tags), "rules": self.rules_api()}

    def has_linode(self, instance_id: int) -> bool:
        return any(d.entity["type"] == "linode" and d.entity["id"] == instance_id for d in self.devices)


# -- rule validation -------------------------------------------------------------------

def _check_ports(ports, where: str) -> str:
    if not isinstance(ports, str) or not ports.strip():
        raise field_error(where, "ports must be a string such as \"22\", \"80,443\" or \"1000-2000\"")
    pieces = [p.strip() for p in ports.split(",")]
    if len(pieces) > MAX_PORT_PIECES:
        raise field_error(where, f"At most {MAX_PORT_PIECES} ports or port ranges per rule")
    for piece in pieces:
        match = _PORT_PIECE.match(piece)
        if not match:
            raise field_error(where, f"Invalid port or range {piece!r}: use \"22\", \"80,443\" or \"1000-2000\"")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if not 1 <= low <= 65535 or not 1 <= high <= 65535:
            raise field_error(where, f"Port {piece!r} is outside 1-65535")
        if high < low:
            raise field_error(where, f"Port range {piece!r} must go from low to high")
    return ",".join(pieces)


def _check_addresses(addresses, where: str) -> dict:
    if not isinstance(addresses, dict) or set(addresses) - {"ipv4", "ipv6"}:
        raise field_error(where, "addresses must be an object {ipv4: [...], ipv6: [...]}")
    result = {}
    for family, version in (("ipv4", 4), ("ipv6", 6)):
        values = addresses.get(family)
        if values is None:
            continue
        if not isinstance(values, list):
            raise field_error(f"{where}.{family}", f"{family} must be a list of addresses or CIDRs")
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
            except ValueError:
                network = None
            if network is None or network.version != version:
                raise field_error(f"{where}.{family}", f"{value!r} is not an IPv{version} address or CIDR")
        result[family] = list(values)
    if not any(result.values()):
        raise field_error(where, "A rule needs at least one IPv4 or IPv6 address")
    return result


def _check_rule(rule, where: str) -> dict:
    if not isinstance(rule, dict):
        raise field_error(where, "A rule must be an object")
    action = rule.get("action")
    if action not in ACTIONS:
        raise field_error(f"{where}.action", f"action must be one of {', '.join(ACTIONS)}")
    protocol = rule.get("protocol")
    if protocol not in PROTOCOLS:
        raise field_error(f"{where}.protocol", f"protocol must be one of {', '.join(PROTOCOLS)}")
    checked = {"action": action, "protocol": protocol}
    ports = rule.get("ports")
    if ports not in (None, ""):
        if protocol in ("ICMP", "IPENCAP"):
            raise field_error(f"{where}.ports", f"Ports are not allowed for {protocol} rules")
        checked["ports"] = _check_ports(ports, f"{where}.ports")
    checked["addresses"] = _check_addresses(rule.get("addresses"), f"{where}.addresses")
    label = rule.get("label")
    if label is not None:
        check_label(label, f"{where}.label", 3, 32)
        checked["label"] = label
    description = rule.get("description")
    if description is not None:
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            raise field_error(f"{where}.description", "description must be 1-100 characters")
        checked["description"] = description
    return checked


def check_rules(rules, where: str = "rules") -> dict:
    """A firewall's rule set, validated and normalised, or Linode's 400 naming the field at fault."""
    if not isinstance(rules, dict):
        raise field_error(where, "rules must be an object {inbound, inbound_policy, outbound, outbound_policy}")
    checked = {}
    for direction in ("inbound", "outbound"):
        policy = rules.get(f"{direction}_policy")
        if policy not in ACTIONS:
            raise field_error(f"{where}.{direction}_policy", f"{direction}_policy must be ACCEPT or DROP")
        entries = rules.get(direction) or []
        if not isinstance(entries, list):
            raise field_error(f"{where}.{direction}", f"{direction} must be a list of rules")
        checked[direction] = [_check_rule(r, f"{where}.{direction}[{i}]") for i, r in enumerate(entries)]
        checked[f"{direction}_policy"] = policy
    if len(checked["inbound"]) + len(checked["outbound"]) > MAX_RULES:
        raise field_error(where, f"A firewall may have at most {MAX_RULES} rules, inbound and outbound together")
    return checked


class FirewallService(Service):
    name = "firewalls"

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self.firewalls: dict[int, Firewall] = {}

    # -- what other services use --------------------------------------------------

    def get_firewall(self, firewall_id, field: str | None = "firewall_id") -> Firewall:
        """The firewall, or a 400 naming ``field`` (a request field refers to it); ``field=None``: a 404."""
        firewall = self.firewalls.get(firewall_id) if isinstance(firewall_id, int) else None
        if firewall is None:
            if field is None:
                raise NotFound()
            raise field_error(field, f"Firewall {firewall_id} does not exist")
        return firewall

    def add_device(self, firewall_id: int, instance) -> Device:
        """Assign ``instance`` to the firewall (instance create with ``firewall_id``, or a device create)."""
        firewall = self.get_firewall(firewall_id)
        if firewall.has_linode(instance.id):
            raise BadRequest(f"Linode {instance.label} is already assigned to firewall {firewall.label}")
        if firewall.status == "enabled":
            self._check_single_enabled(firewall, instance.id)
        stamp = self.backend.clock.stamp()
        device = Device(self.backend.next_id("firewall_device"), instance.entity(), stamp, stamp)
        firewall.devices.append(device)
        firewall.updated = stamp
        self.backend.events.record("firewall_device_add", firewall.entity(), "notification",
                                   secondary=device.entity)
        return device

    def forget_device(self, instance_id: int) -> None:
        """The instance is gone: it is no longer a device of any firewall."""
        for firewall in self.firewalls.values():
            firewall.devices = [d for d in firewall.devices
                                if not (d.entity["type"] == "linode" and d.entity["id"] == instance_id)]

    def protecting(self, instance_id: int) -> list[Firewall]:
        return [f for f in self.firewalls.values() if f.has_linode(instance_id)]

    # -- verbs ----------------------------------------------------------------------

    def list_firewalls(self) -> list[Firewall]:
        return list(self.firewalls.values())

    def create_firewall(self, body: dict) -> Firewall:
        backend = self.backend
        label = check_label(require(body, "label"), "label", 3, 32)
        self._check_unique(label)
        rules = check_rules(require(body, "rules"))
        tags = check_tags(body.get("tags"))
        instances = self._device_instances(body.get("devices"))
        stamp = backend.clock.stamp()
        firewall = Firewall(backend.next_id("firewall"), label, "enabled", stamp, stamp, rules, tags=tags)
        for instance in instances:
            self._check_single_enabled(firewall, instance.id)
        self.firewalls[firewall.id] = firewall
        backend.events.record("firewall_create", firewall.entity(), "notification")
        for instance in instances:
            self.add_device(firewall.id, instance)
        return firewall

    def update_firewall(self, firewall_id: int, body: dict) -> Firewall:
        firewall = self.get_firewall(firewall_id, field=None)
        backend = self.backend
        label = firewall.label
        if "label" in body and body["label"] != firewall.label:
            label = check_label(body["label"], "label", 3, 32)
            self._check_unique(label)
        tags = check_tags(body["tags"]) if "tags" in body else firewall.tags
        status = body.get("status", firewall.status)
        if status not in ("enabled", "disabled"):
            raise field_error("status", "status must be 'enabled' or 'disabled'")
        if status == "enabled" and firewall.status != "enabled":
            for device in firewall.devices:
                self._check_single_enabled(firewall, device.entity["id"])
        # Everything is checked: now change it.
        if (label, tags) != (firewall.label, firewall.tags):
            firewall.label, firewall.tags = label, tags
            backend.events.record("firewall_update", firewall.entity(), "notification")
        if status != firewall.status:
            firewall.status = status
            backend.events.record(f"firewall_{status[:-1]}", firewall.entity(), "notification")
        firewall.updated = backend.clock.stamp()
        return firewall

    def delete_firewall(self, firewall_id: int) -> None:
        firewall = self.get_firewall(firewall_id, field=None)
        self.backend.events.record("firewall_delete", firewall.entity(), "notification")
        del self.firewalls[firewall_id]

    def get_rules(self, firewall_id: int) -> dict:
        return self.get_firewall(firewall_id, field=None).rules_api()

    def update_rules(self, firewall_id: int, body: dict) -> dict:
        firewall = self.get_firewall(firewall_id, field=None)
        # A PUT may send only what changes; what it leaves out stays as it was.
        merged = {**firewall.rules, **{k: v for k, v in body.items() if k not in ("fingerprint", "version")}}
        rules = check_rules(merged, "rules")
        if rules != firewall.rules:
            firewall.rules = rules
            firewall.rules_version += 1
            firewall.updated = self.backend.clock.stamp()
            self.backend.events.record("firewall_update", firewall.entity(), "notification")
        return firewall.rules_api()

    def list_devices(self, firewall_id: int) -> list[Device]:
        firewall = self.get_firewall(firewall_id, field=None)
        for device in firewall.devices:  # an instance may have been relabelled since
            instance = self.backend.instances.instances.get(device.entity["id"])
            if instance is not None:
                device.entity["label"] = instance.label
        return list(firewall.devices)

    def get_device(self, firewall_id: int, device_id: int) -> Device:
        for device in self.list_devices(firewall_id):
            if device.id == device_id:
                return device
        raise NotFound()

    def create_device(self, firewall_id: int, body: dict) -> Device:
        self.get_firewall(firewall_id, field=None)
        kind = body.get("type") or "linode"
        if kind != "linode":
            raise field_error("type", f"Devices of type {kind!r} are not emulated; only 'linode'")
        instance = self.backend.instances.instances.get(require(body, "id"))
        if instance is None:
            raise field_error("id", f"Linode {body['id']} does not exist")
        return self.add_device(firewall_id, instance)

    def delete_device(self, firewall_id: int, device_id: int) -> None:
        firewall = self.get_firewall(firewall_id, field=None)
        device = self.get_device(firewall_id, device_id)
        firewall.devices.remove(device)
        firewall.updated = self.backend.clock.stamp()
        self.backend.events.record("firewall_device_remove", firewall.entity(), "notification",
                                   secondary=device.entity)

    # -- helpers ------------------------------------------------------------------------

    def _check_unique(self, label: str) -> None:
        if any(f.label == label for f in self.firewalls.values()):
            raise field_error("label", f"A firewall labelled {label} already exists; labels must be unique")

    def _device_instances(self, devices) -> list:
        if devices is None:
            return []
        if not isinstance(devices, dict):
            raise field_error("devices", "devices must be an object {linodes: [ids]}")
        for other in ("nodebalancers", "linode_interfaces"):
            if devices.get(other):
                raise field_error(f"devices.{other}", f"Firewall devices of kind {other} are not emulated")
        ids = devices.get("linodes") or []
        if not isinstance(ids, list):
            raise field_error("devices.linodes", "devices.linodes must be a list of Linode ids")
        instances = []
        for linode_id in dict.fromkeys(ids):
            instance = self.backend.instances.instances.get(linode_id) if isinstance(linode_id, int) else None
            if instance is None:
                raise field_error("devices.linodes", f"Linode {linode_id} does not exist")
            instances.append(instance)
        return instances

    def _check_single_enabled(self, firewall: Firewall, instance_id: int) -> None:
        """Linode's rule: a Linode has at most one enabled firewall."""
        for other in self.firewalls.values():
            if other is not firewall and other.status == "enabled" and other.has_linode(instance_id):
                raise BadRequest(f"Linode {instance_id} already has the enabled firewall {other.label}; "
                                 "a Linode can have only one enabled firewall")

    # -- service plumbing ---------------------------------------------------------------

    def to_state(self) -> dict:
        return {"firewalls": [asdict(f) for f in self.firewalls.values()]}

    def load(self, state: dict) -> None:
        self.firewalls = {}
        for row in state.get("firewalls", []):
            row = dict(row)
            row["devices"] = [Device(**d) for d in row.get("devices", [])]
            self.firewalls[row["id"]] = Firewall(**row)

    def reset(self) -> None:
        self.firewalls.clear()
