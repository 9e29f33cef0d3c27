"""The emulated account: every service's state, one lock, one state file.

Services keep plain dataclasses in dicts and name their methods after the API's
verbs (``create_instance``, ``list_images``), as moto's backends do. All of them
share the lock below: the emulator serves hundreds of requests a second, far
below where one lock would matter, and one lock keeps cross-service rules
(a volume attached to an instance being deleted) simple.
"""

from __future__ import annotations

import random
import secrets
import threading
from pathlib import Path

from stager.emulator.account.models import Billing, EventLog
from stager.emulator.core.auth import TokenStore
from stager.emulator.core.clock import Clock
from stager.emulator.core.faults import Faults
from stager.emulator.core.ratelimit import RateLimiter
from stager.emulator.core.scheduler import Scheduler
from stager.emulator.core.state import load_state, save_state

STATE_VERSION = 1

# Linode's published limits (linode-facts.md): 10 instance creates per 30 s,
# 800 requests per minute per endpoint, about 1,600 per 2 minutes overall.
DEFAULT_RATE_LIMITS = {
    "instance_create": (10, 30.0),
    "endpoint": (800, 60.0),
    "overall": (1600, 120.0),
}


class Backend:
    def __init__(self, state_dir: Path, *, clock: Clock | None = None, faults: Faults | None = None,
                 rate_limits: bool = True) -> None:
        from stager.emulator.images.models import ImageService
        from stager.emulator.linode.models import InstanceService
        from stager.emulator.networking.models import FirewallService
        from stager.emulator.objectstorage.models import ObjectStorageService
        from stager.emulator.volumes.models import VolumeService

        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.faults = faults or Faults()
        self.rate_limiter = RateLimiter(DEFAULT_RATE_LIMITS, enabled=rate_limits)
        self.scheduler = Scheduler()
        self.tokens = TokenStore()
        self._counters: dict[str, int] = {}
        self.tags_created: set[str] = set()  # tags made with POST /tags, tagged or not
        self.public_url = ""  # the API server's own URL, for links such as upload_to; set by the server
        # Each emulator draws its own 127.x.0.0/16 so two of them on one machine
        # never hand out the same instance address.
        self.address_block = random.randint(2, 250)
        self.events = EventLog(self.clock, self.next_id)
        self.billing = Billing(self.clock)
        self.instances = InstanceService(self)
        self.images = ImageService(self)
        self.volumes = VolumeService(self)
        self.object_storage = ObjectStorageService(self)
        self.firewalls = FirewallService(self)
        self._services = [self.instances, self.images, self.volumes, self.object_storage, self.firewalls]
        self._load()

    # -- ids and persistence -------------------------------------------------

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._counters.get(kind, 0) + 1
            self._counters[kind] = value
            return value

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def persist(self) -> None:
        with self.lock:
            state = {
                "version": STATE_VERSION,
                "counters": self._counters,
                "address_block": self.address_block,
                "clock_offset_s": self.clock.offset_seconds,
                "tokens": [{"token": t.token, "scopes": t.scopes, "label": t.label} for t in self.tokens.all()],
                "events": self.events.to_state(),
                "billing": self.billing.to_state(),
                "tags": sorted(self.tags_created),
            }
            for service in self._services:
                state[service.name] = service.to_state()
            save_state(self.state_file, state)

    def _load(self) -> None:
        state = load_state(self.state_file)
        if state is None:
            self.tokens.add("*", "default", secrets.token_hex(32))
            self.persist()
            return
        self._counters = dict(state.get("counters", {}))
        self.address_block = state.get("address_block", self.address_block)
        offset = state.get("clock_offset_s", 0.0)
        if offset:
            self.clock.advance(seconds=offset - self.clock.offset_seconds)
        for token in state.get("tokens", []):
            self.tokens.add(token["scopes"], token.get("label", ""), token["token"])
        self.events.load(state.get("events", []))
        self.billing.load(state.get("billing", []))
        self.tags_created = set(state.get("tags", []))
        for service in self._services:
            service.load(state.get(service.name, {}))

    @property
    def default_token(self) -> str:
        return next(t.token for t in self.tokens.all() if t.label == "default")

    # -- lifecycle --------------------------------------------------------------

    def resume(self) -> None:
        """Bring runtime parts back after loading: SSH for running instances, timers for transitions."""
        for service in self._services:
            service.resume()

    def shutdown(self) -> None:
        """Stop threads and SSH listeners; state stays on disk (instances keep existing)."""
        self.scheduler.stop()
        for service in self._services:
            service.close()
        self.persist()

    def reset(self) -> None:
        """Forget everything but the tokens: every resource deleted, sandboxes and objects removed."""
        with self.lock:
            for service in self._services:
                service.reset()
            self.events.events.clear()
            self.billing.charges.clear()
            self.tags_created.clear()
            self._counters.clear()
            self.faults.clear()
            self.rate_limiter.reset()
            self.persist()
