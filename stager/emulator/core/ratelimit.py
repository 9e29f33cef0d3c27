"""Linode's rate limits as sliding windows, answered with 429 and ``Retry-After``.

Limits are real time (not the test clock): they protect the API, whatever the
emulated date. Each limit is a number of requests per window for a key.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Limit:
    requests: int
    window_s: float
    hits: dict[str, deque] = field(default_factory=dict)


class RateLimiter:
    def __init__(self, limits: dict[str, tuple[int, float]] | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._limits = {name: Limit(n, w) for name, (n, w) in (limits or {}).items()}

    def set_limit(self, name: str, requests: int, window_s: float) -> None:
        with self._lock:
            self._limits[name] = Limit(requests, window_s)

    def check(self, name: str, key: str = "") -> int | None:
        """Record one request; the seconds to wait when it is over the limit (then it is not recorded)."""
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            limit = self._limits.get(name)
            if limit is None:
                return None
            hits = limit.hits.setdefault(key, deque())
            while hits and hits[0] <= now - limit.window_s:
                hits.popleft()
            if len(hits) >= limit.requests:
                return max(1, math.ceil(hits[0] + limit.window_s - now))
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            for limit in self._limits.values():
                limit.hits.clear()
