"""URL table for instances, disks, plans and regions."""

from stager.emulator.core.routing import Route
from stager.emulator.linode import responses as r

ROUTES = [
    Route("GET", "/regions", r.list_regions, ""),
    Route("GET", "/regions/{regionId}", r.get_region, ""),
    Route("GET", "/linode/types", r.list_types, ""),
    Route("GET", "/linode/types/{typeId}", r.get_type, ""),
    Route("GET", "/linode/instances", r.list_instances, "linodes"),
    Route("POST", "/linode/instances", r.create_instance, "linodes"),
    Route("GET", "/linode/instances/{linodeId}", r.get_instance, "linodes"),
    Route("PUT", "/linode/instances/{linodeId}", r.update_instance, "linodes"),
    Route("DELETE", "/linode/instances/{linodeId}", r.delete_instance, "linodes"),
    Route("POST", "/linode/instances/{linodeId}/boot", r.boot, "linodes"),
    Route("POST", "/linode/instances/{linodeId}/reboot", r.reboot, "linodes"),
    Route("POST", "/linode/instances/{linodeId}/shutdown", r.shutdown, "linodes"),
    Route("GET", "/linode/instances/{linodeId}/disks", r.list_disks, "linodes"),
    Route("GET", "/linode/instances/{linodeId}/disks/{diskId}", r.get_disk, "linodes"),
    Route("GET", "/linode/instances/{linodeId}/volumes", r.list_instance_volumes, "linodes"),
    Route("GET", "/linode/instances/{linodeId}/firewalls", r.list_instance_firewalls, "linodes"),
    Route("GET", "/linode/instances/{linodeId}/ips", r.list_ips, "linodes"),
]
