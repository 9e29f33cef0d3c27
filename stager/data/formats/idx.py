"""MNIST IDX files as sources.

A plain IDX file is memory-mapped after its header and length are checked.  A
gzipped one (``.gz``) cannot be: it is read whole through
``stager.examples.formats.read_idx``, which is fine at MNIST's size (47 MB
unpacked) but means a gzipped IDX file must fit in memory.  Only unsigned-byte
IDX data (type code 0x08) is supported, as in the MNIST files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from stager.data.formats.base import ArraySource, FileProblem
from stager.errors import UsageError
from stager.examples.formats import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx

__all__ = ["IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "open_idx"]


def _plain_idx(path: Path, magic: int) -> np.ndarray:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4:
            raise FileProblem(f"truncated IDX file ({len(head)} bytes, no header)")
        (word,) = struct.unpack(">I", head)
        if word != magic:
            raise FileProblem(f"bad IDX magic 0x{word:08x}, expected 0x{magic:08x}")
        ndim = word & 0xFF
        dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise FileProblem("truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims)
    header_len = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=np.int64))
    got = size - header_len
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes after"
        raise FileProblem(f"{what} IDX data: header {tuple(shape)} needs {expected} bytes, file has {got}")
    if expected == 0:
        return np.empty(shape, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=header_len, shape=tuple(shape))


def open_idx(path: Path, rel: str, magic: int) -> ArraySource:
    """An IDX images (``magic`` 0x803) or labels (0x801) file.

    Raises:
        FileProblem: wrong magic, truncated, trailing bytes, or an unreadable gzip stream.
    """
    try:
        if path.name.endswith(".gz"):
            array = read_idx(path, magic)
        else:
            array = _plain_idx(path, magic)
    except UsageError as exc:
        raise FileProblem(str(exc).removeprefix(f"{path}: ")) from None
    except OSError as exc:
        raise FileProblem(f"cannot read ({exc.strerror or exc})") from None
    return ArraySource(array, rel)
