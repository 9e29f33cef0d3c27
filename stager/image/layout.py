"""Where stager keeps its things on an instance, on both targets.

On Linode stager lives in ``/opt/stager`` (its virtualenv, wheels and jobs). On
the local target an instance is an emulator sandbox whose filesystem is a
folder: the same paths sit under that folder, because commands there see the
host's filesystem. Transfers go through a home-relative staging folder, which
SFTP and commands resolve alike on both targets.
"""

from __future__ import annotations

import posixpath
import sys
from dataclasses import dataclass

__all__ = ["InstanceLayout", "STAGING", "detect_layout"]

STAGING = ".stager-build"  # home-relative folder for uploads during a build; removed before capture


@dataclass(frozen=True)
class InstanceLayout:
    root: str  # the instance's filesystem root as its commands see it: "/" on Linode, the sandbox folder locally
    sandboxed: bool  # the local target: no apt, no cloud-init, no network, the controller's Python

    def path(self, image_path: str) -> str:
        """``image_path`` (absolute, as on the image) as commands on this instance must write it."""
        return posixpath.join(self.root, image_path.lstrip("/"))

    @property
    def prefix(self) -> str:
        return self.path("/opt/stager")

    @property
    def venv(self) -> str:
        return posixpath.join(self.prefix, "venv")

    @property
    def python(self) -> str:
        """The image's Python; called as ``python -m stager`` so the venv works from any root."""
        return posixpath.join(self.venv, "bin", "python")

    @property
    def site_packages(self) -> str:
        return posixpath.join(self.venv, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}",
                              "site-packages")


def detect_layout(remote, sandboxed: bool) -> InstanceLayout:
    """The layout of the instance ``remote`` is connected to; a sandbox says where it lives in ``$STAGER_SANDBOX``.

    Raises:
        RemoteError: a local instance that does not say where its sandbox is.
    """
    from stager.remote.errors import RemoteError

    if not sandboxed:
        return InstanceLayout(root="/", sandboxed=False)
    root = remote.run('printf %s "$STAGER_SANDBOX"', stream=False, display="locate the sandbox").stdout.strip()
    if not root.startswith("/"):
        raise RemoteError("the local instance did not say where its sandbox is ($STAGER_SANDBOX is empty)")
    return InstanceLayout(root=root, sandboxed=True)
