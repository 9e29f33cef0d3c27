"""Targets: where a pipeline's machines come from. ``local`` is the emulator on this machine, ``linode`` the real cloud.

Both give the same ``LinodeCloud`` over linode_api4; only the endpoint, the token
and the polling pace differ, so the code path the tests exercise locally is the
one that spends money on Linode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from linode_api4 import LinodeClient

import stager
from stager.cloud.errors import CredentialsError
from stager.cloud.linode import LinodeCloud
from stager.cloud.waiting import Backoff
from stager.errors import UsageError

TARGETS = ("local", "linode")
TOKEN_ENV = "LINODE_TOKEN"
LOCAL_POLL = Backoff(0.05, 1.0)  # the emulator changes status in milliseconds
LINODE_POLL = Backoff(2.0, 15.0)  # a real boot takes a minute or more; Linode rate-limits polling


@dataclass
class CloudTarget:
    """An open target: its ``LinodeCloud`` and what else a run needs to know about it. Close it when done."""

    name: str  # "local" | "linode"
    cloud: LinodeCloud
    sandboxed: bool  # True for local: instances are emulator sandboxes on this machine, not VMs
    s3_endpoint: str | None  # the local S3 endpoint; None on Linode, where it depends on the bucket's region
    _close: Callable[[], None] | None = field(default=None, repr=False)  # stops an emulator this target started

    def close(self) -> None:
        """Release what the target holds (stops an in-process emulator it started). Safe to call twice."""
        closer, self._close = self._close, None
        if closer is not None:
            closer()

    def __enter__(self) -> CloudTarget:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _user_agent() -> str:
    return f"stager/{stager.__version__}"


def open_target(name: str, *, state_dir: Path | None = None) -> CloudTarget:
    """Open the target called ``name``.

    ``local`` uses the emulator serving ``state_dir`` (default
    ``$STAGER_HOME/emulator``) when ``stager emulator serve`` runs there, or starts
    one in this process, stopped by ``close()``. ``linode`` reads the API token
    from ``LINODE_TOKEN``; ``state_dir`` is ignored there.

    Raises:
        CredentialsError: ``linode`` without ``LINODE_TOKEN`` set.
        UsageError: an unknown target name.
        StateDirBusy: (local) another process owns the state directory without serving it.
    """
    if name == "local":
        from stager.emulator.local import connect

        endpoint = connect(state_dir)
        client = LinodeClient(endpoint.token, base_url=endpoint.base_url, user_agent=_user_agent())
        return CloudTarget("local", LinodeCloud(client, poll=LOCAL_POLL), sandboxed=True,
                           s3_endpoint=endpoint.s3_endpoint, _close=endpoint.close)
    if name == "linode":
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise CredentialsError(
                f"target linode needs an API token in {TOKEN_ENV}: create a personal access token at "
                "https://cloud.linode.com/profile/tokens (read/write for Linodes, Images, Volumes, Firewalls, "
                f"Object Storage; expiry as short as suits you), then `export {TOKEN_ENV}=<token>`")
        client = LinodeClient(token, user_agent=_user_agent())
        return CloudTarget("linode", LinodeCloud(client, poll=LINODE_POLL), sandboxed=False, s3_endpoint=None)
    raise UsageError(f"unknown target {name!r}; valid targets: {', '.join(TARGETS)}")
