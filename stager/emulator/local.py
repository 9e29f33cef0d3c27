"""The ``local`` target: the emulator on this machine, under ``$STAGER_HOME/emulator``.

If ``stager emulator serve`` is already serving the state directory, callers talk
to it; otherwise they start one in their own process for as long as they need it.
Either way the state (instances, images, buckets) is the same directory, so an
image built by one invocation is reused by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stager.emulator.core.state import load_state
from stager.emulator.server import Emulator, running_endpoint
from stager.home import stager_home


def default_state_dir() -> Path:
    return stager_home() / "emulator"


@dataclass(frozen=True)
class LocalEndpoint:
    base_url: str  # what LinodeClient(base_url=...) takes
    token: str  # the emulator's default token: a secret, never logged
    s3_endpoint: str
    emulator: Emulator | None  # the in-process emulator this process started, if it started one

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"LocalEndpoint(base_url={self.base_url!r}, s3_endpoint={self.s3_endpoint!r})"


def connect(state_dir: Path | None = None) -> LocalEndpoint:
    """The running local emulator for ``state_dir``, or a new one started in this process."""
    state_dir = Path(state_dir or default_state_dir())
    running = running_endpoint(state_dir)
    if running is not None:
        state = load_state(state_dir / "state.json") or {}
        token = next((t["token"] for t in state.get("tokens", []) if t.get("label") == "default"), "")
        return LocalEndpoint(running["base_url"], token, running["s3_endpoint"], None)
    emulator = Emulator(state_dir).start()
    return LocalEndpoint(emulator.base_url, emulator.token, emulator.s3_endpoint, emulator)
