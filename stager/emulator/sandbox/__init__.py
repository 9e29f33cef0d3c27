"""Sandbox hosts: the "instances" of stager's Linode emulator.

A sandbox is a directory on this machine that plays an instance's disk, plus a
real SSH and SFTP server (paramiko) on a loopback address that runs commands
with ``/bin/bash`` in it. It is NOT a virtual machine: no kernel of its own, no
apt or systemd, no isolation beyond the user's own machine, and absolute paths
in commands reach the host filesystem (only SFTP is jailed). Stager's remote
code therefore uses home-relative paths.
"""

from stager.emulator.sandbox.cloudinit import host_key_from_user_data, new_host_key
from stager.emulator.sandbox.disk import (
    capture_disk,
    measure_disk,
    restore_disk,
    restore_disk_from_archive,
)
from stager.emulator.sandbox.host import SandboxHost

__all__ = [
    "SandboxHost",
    "capture_disk",
    "host_key_from_user_data",
    "measure_disk",
    "new_host_key",
    "restore_disk",
    "restore_disk_from_archive",
]
