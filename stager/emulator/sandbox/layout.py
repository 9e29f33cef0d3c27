"""The directories a sandbox root holds, and where volumes appear in it.

::

    <root>/root                  home of the only user, root (cwd of every command)
    <root>/tmp                   scratch; never captured into an image
    <root>/etc                   empty unless the user writes there
    <root>/mnt/<label>           symlink to an attached volume's directory
    <root>/dev/disk/by-id/scsi-0Linode_Volume_<label>   the same volume, named as Linode names it

On Linode ``/dev/disk/by-id/scsi-0Linode_Volume_<label>`` is a block device that
must be formatted and mounted before use. In a sandbox it is already a directory
(a symlink to one), and so is ``/mnt/<label>``: there is nothing to format.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BY_ID",
    "HOME",
    "MNT",
    "TMP",
    "VOLUME_PREFIX",
    "ensure_layout",
    "volume_label_error",
]

HOME = "root"
TMP = "tmp"
ETC = "etc"
MNT = "mnt"
BY_ID = "dev/disk/by-id"
VOLUME_PREFIX = "scsi-0Linode_Volume_"


def ensure_layout(root: Path) -> None:
    """Create the standard directories under ``root`` (existing ones are kept)."""
    for rel in (HOME, TMP, ETC, MNT, BY_ID):
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / HOME).chmod(0o700)
    (root / TMP).chmod(0o1777)


def volume_label_error(label: str) -> str | None:
    """Why ``label`` cannot name a volume link, or None when it can."""
    if not label or label in {".", ".."} or "/" in label or "\0" in label:
        return f"invalid volume label {label!r}"
    return None
