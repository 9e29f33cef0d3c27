"""URL table for Cloud Firewalls."""

from stager.emulator.core.routing import Route
from stager.emulator.networking import responses as r

_BASE = "/networking/firewalls"

ROUTES = [
    Route("GET", _BASE, r.list_firewalls, "firewall"),
    Route("POST", _BASE, r.create_firewall, "firewall"),
    Route("GET", _BASE + "/{firewallId}", r.get_firewall, "firewall"),
    Route("PUT", _BASE + "/{firewallId}", r.update_firewall, "firewall"),
    Route("DELETE", _BASE + "/{firewallId}", r.delete_firewall, "firewall"),
    Route("GET", _BASE + "/{firewallId}/rules", r.get_rules, "firewall"),
    Route("PUT", _BASE + "/{firewallId}/rules", r.update_rules, "firewall"),
    Route("GET", _BASE + "/{firewallId}/devices", r.list_devices, "firewall"),
    Route("POST", _BASE + "/{firewallId}/devices", r.create_device, "firewall"),
    Route("GET", _BASE + "/{firewallId}/devices/{deviceId}", r.get_device, "firewall"),
    Route("DELETE", _BASE + "/{firewallId}/devices/{deviceId}", r.delete_device, "firewall"),
]
