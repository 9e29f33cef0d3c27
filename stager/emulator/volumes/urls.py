"""URL table for Block Storage volumes."""

from stager.emulator.core.routing import Route
from stager.emulator.volumes import responses as r

ROUTES = [
    Route("GET", "/volumes", r.list_volumes, "volumes"),
    Route("POST", "/volumes", r.create_volume, "volumes"),
    Route("GET", "/volumes/types", r.list_types, ""),
    Route("GET", "/volumes/{volumeId}", r.get_volume, "volumes"),
    Route("PUT", "/volumes/{volumeId}", r.update_volume, "volumes"),
    Route("DELETE", "/volumes/{volumeId}", r.delete_volume, "volumes"),
    Route("POST", "/volumes/{volumeId}/attach", r.attach_volume, "volumes"),
    Route("POST", "/volumes/{volumeId}/detach", r.detach_volume, "volumes"),
    Route("POST", "/volumes/{volumeId}/resize", r.resize_volume, "volumes"),
    Route("POST", "/volumes/{volumeId}/clone", r.clone_volume, "volumes"),
]
