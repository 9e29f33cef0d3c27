"""Fault injection: what the reliability tests make go wrong, on purpose.

Driven from Python (``emulator.faults``) or over HTTP (``POST /_emulator/faults``).
Every fault is one-shot or counted, so a test states exactly what breaks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class ApiFailure:
    status: int  # 429, 500, 503, ...
    remaining: int  # how many more matching calls fail
    method: str | None = None  # only this HTTP method, or any
    path_prefix: str | None = None  # only paths under this prefix (without /v4), or any
    retry_after: int = 1  # Retry-After sent with a 429 or 503


@dataclass
class Faults:
    api_failures: list[ApiFailure] = field(default_factory=list)
    latency_s: float = 0.0  # added to every API call
    provision_s: float = 0.0  # provisioning -> booting
    boot_s: float = 0.0  # booting -> running
    shutdown_s: float = 0.0  # shutting_down -> offline
    capture_s: float = 0.0  # image creating -> available (on top of the copy itself)
    failing_boots: int = 0  # the next N boots end offline with a failed event
    failing_captures: int = 0  # the next N image captures fail
    gpu_capacity: dict[str, int] = field(default_factory=dict)  # region -> GPU instances it can still take; absent: unlimited
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_next(self, count: int, status: int = 500, *, method: str | None = None,
                  path_prefix: str | None = None, retry_after: int = 1) -> None:
        with self._lock:
            self.api_failures.append(ApiFailure(status, count, method, path_prefix, retry_after))

    def take_api_failure(self, method: str, path: str) -> ApiFailure | None:
        with self._lock:
            for failure in self.api_failures:
                if failure.method and failure.method != method:
                    continue
                if failure.path_prefix and not path.startswith(failure.path_prefix):
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.api_failures.remove(failure)
                return failure
        return None

    def take_boot_failure(self) -> bool:
        with self._lock:
            if self.failing_boots > 0:
                self.failing_boots -= 1
                return True
            return False

    def take_capture_failure(self) -> bool:
        with self._lock:
            if self.failing_captures > 0:
                self.failing_captures -= 1
                return True
            return False

    def take_gpu_slot(self, region: str) -> bool:
        """Whether a GPU instance fits in ``region``; uses up one slot when it does."""
        with self._lock:
            left = self.gpu_capacity.get(region)
            if left is None:
                return True
            if left <= 0:
                return False
            self.gpu_capacity[region] = left - 1
            return True

    def clear(self) -> None:
        with self._lock:
            self.api_failures.clear()
            self.latency_s = self.provision_s = self.boot_s = self.shutdown_s = self.capture_s = 0.0
            self.failing_boots = self.failing_captures = 0
            self.gpu_capacity.clear()
