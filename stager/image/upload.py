"""Checks a disk image before it is uploaded, so a bad file fails here and not after an hour of sending.

Linode takes a raw disk image compressed with gzip (``.img.gz``), at most 5 GB
compressed and 6 GB uncompressed. The whole file is decompressed as a stream
(nothing is held in memory) because gzip's own size field wraps at 4 GiB and
only a full read finds truncation or corruption.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from stager.errors import UsageError

__all__ = ["MAX_COMPRESSED", "MAX_UNCOMPRESSED", "UploadCheck", "check_upload"]

MAX_COMPRESSED = 5 * 1024**3
MAX_UNCOMPRESSED = 6 * 1024**3
_CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadCheck:
    compressed_bytes: int
    uncompressed_bytes: int


def check_upload(path: Path, *, max_compressed: int = MAX_COMPRESSED,
                 max_uncompressed: int = MAX_UNCOMPRESSED) -> UploadCheck:
    """Check that ``path`` is a complete gzip file within Linode's limits.

    Raises:
        UsageError: missing, not gzip, truncated or corrupt, or over a limit; the
            message names the file and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: file not found (give a gzip-compressed raw disk image, .img.gz)")
    size = path.stat().st_size
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic != b"\x1f\x8b":
        raise UsageError(f"{path}: not a gzip file; compress the raw disk image first: gzip -k disk.img")
    if size > max_compressed:
        raise UsageError(f"{path}: {size / 1024**3:.2f} GB compressed, over Linode's "
                         f"{max_compressed / 1024**3:.0f} GB upload limit; shrink the disk image first")
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > max_uncompressed:
                    raise UsageError(f"{path}: more than {max_uncompressed / 1024**3:.0f} GB uncompressed, over "
                                     "Linode's limit for a custom image; shrink the disk image first")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise UsageError(f"{path}: the gzip data is truncated or corrupt ({exc}); compress the image again") from None
    return UploadCheck(size, total)
