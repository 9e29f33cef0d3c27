"""``Emulator``: the API server, the S3 endpoint and the sandboxes, started and stopped as one.

    emulator = Emulator(state_dir).start()
    client = emulator.client()              # a real linode_api4.LinodeClient
    ...
    emulator.stop()                         # state stays on disk; instances keep existing

One emulator owns a state directory at a time (a lock file says so); the
directory's ``emulator.json`` tells other processes where it is listening.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from stager.emulator.app import ApiApplication
from stager.emulator.backend import Backend
from stager.emulator.control import PREFIX as CONTROL_PREFIX
from stager.emulator.control import make_handler
from stager.emulator.core.clock import Clock
from stager.emulator.core.faults import Faults
from stager.emulator.core.http import HttpServer
from stager.emulator.images.responses import receive_upload

LOCK_FILE = "emulator.lock"
ENDPOINT_FILE = "emulator.json"


class StateDirBusy(RuntimeError):
    """Another emulator process owns this state directory."""


class Emulator:
    def __init__(self, state_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0, s3_port: int = 0,
                 rate_limits: bool = True, clock: Clock | None = None) -> None:
        self.state_dir = Path(state_dir)
        self._host, self._port, self._s3_port = host, port, s3_port
        self._rate_limits = rate_limits
        self._clock = clock
        self.backend: Backend | None = None
        self._http: HttpServer | None = None
        self._s3 = None
        self._lock_handle = None

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> Emulator:
        from stager.emulator.s3 import S3Server

        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)  # it holds tokens, keys and root filesystems
        self._lock()
        try:
            backend = Backend(self.state_dir, clock=self._clock, faults=Faults(), rate_limits=self._rate_limits)
            self.backend = backend
            app = ApiApplication(backend, {CONTROL_PREFIX: make_handler(self),
                                           "/_upload/": lambda request: receive_upload(backend, request)})
            self._http = HttpServer(app, self._host, self._port)
            self._http.start()
            backend.public_url = self._http.url
            self._s3 = S3Server(backend.object_storage.store, backend.object_storage.grant,
                                host=self._host, port=self._s3_port)
            self._s3.start()
            backend.object_storage.s3_endpoint = self._s3.endpoint
            backend.resume()
            backend.persist()
            self._write_endpoint()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self.backend is not None:
            self.backend.shutdown()
            self.backend = None
        (self.state_dir / ENDPOINT_FILE).unlink(missing_ok=True)
        self._unlock()

    def __enter__(self) -> Emulator:  # noqa: PYI034
        return self.start() if self.backend is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- where it is ----------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._http is not None, "emulator not started"
        return self._http.url

    @property
    def base_url(self) -> str:
        """What ``LinodeClient(token, base_url=...)`` takes."""
        return self.url + "/v4"

    @property
    def s3_endpoint(self) -> str:
        return self._s3.endpoint

    @property
    def token(self) -> str:
        return self.backend.default_token

    def client(self, token: str | None = None, **kwargs):
        from linode_api4 import LinodeClient

        return LinodeClient(token or self.token, base_url=self.base_url, **kwargs)

    def connection_info(self) -> dict:
        return {"base_url": self.base_url, "token": self.token, "s3_endpoint": self.s3_endpoint}

    # -- control ----------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.backend.faults

    @property
    def clock(self) -> Clock:
        return self.backend.clock

    def add_token(self, scopes: str, label: str = "") -> str:
        with self.backend.lock:
            token = self.backend.tokens.add(scopes, label).token
            self.backend.persist()
        return token

    def billing(self) -> dict:
        with self.backend.lock:
            return self.backend.billing.report()

    def drop_ssh(self, instance_id: int, after_s: float | None = None) -> None:
        """Fault: drop the instance's SSH connections now, or its next command's after ``after_s``."""
        host = self.backend.instances.host(instance_id)
        if host is None:
            raise ValueError(f"instance {instance_id} has no running SSH server")
        if after_s is None:
            host.drop_connections()
        else:
            host.arm_drop(float(after_s))

    def vanish(self, instance_id: int) -> None:
        """Fault: the instance disappears (API 404, SSH gone, billing stops)."""
        with self.backend.lock:
            self.backend.instances.vanish(instance_id)
            self.backend.persist()

    def reset(self) -> None:
        self.backend.reset()
        for bucket in self.backend.object_storage.store.list_buckets():
            self.backend.object_storage.store.delete_bucket(bucket.name, force=True)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no status change is pending (tests use it to avoid sleeping)."""
        import time

        deadline = time.monotonic() + timeout
        while not self.backend.scheduler.idle() and time.monotonic() < deadline:
            time.sleep(0.01)

    # -- the state directory's lock ------------------------------------------------------

    def _lock(self) -> None:
        handle = open(self.state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held open while the emulator runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateDirBusy(f"another stager emulator is using {self.state_dir}") from None
        self._lock_handle = handle

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _write_endpoint(self) -> None:
        """Where this emulator listens, for other processes; no secrets in it."""
        info = {"base_url": self.base_url, "s3_endpoint": self.s3_endpoint, "pid": os.getpid()}
        (self.state_dir / ENDPOINT_FILE).write_text(json.dumps(info))


def running_endpoint(state_dir: Path) -> dict | None:
    """The endpoint of the emulator serving ``state_dir``, if one is running."""
    path = Path(state_dir) / ENDPOINT_FILE
    lock = Path(state_dir) / LOCK_FILE
    if not path.exists() or not lock.exists():
        return None
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return json.loads(path.read_text())
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None  # a stale file from a killed emulator
