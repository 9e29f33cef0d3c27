"""URL table for profile, account, events and tags."""

from stager.emulator.account import responses as r
from stager.emulator.core.routing import Route

ROUTES = [
    Route("GET", "/profile", r.get_profile, ""),
    Route("GET", "/account", r.get_account, "account"),
    Route("GET", "/account/events", r.list_events, "events"),
    Route("GET", "/account/events/{eventId}", r.get_event, "events"),
    Route("POST", "/account/events/{eventId}/seen", r.mark_event_seen, "events"),
    Route("POST", "/account/events/{eventId}/read", r.mark_event_read, "events"),
    Route("GET", "/tags", r.list_tags, "account"),
    Route("POST", "/tags", r.create_tag, "account"),
    Route("GET", "/tags/{tagLabel}", r.get_tag, "account"),
    Route("DELETE", "/tags/{tagLabel}", r.delete_tag, "account"),
]
