"""NumPy ``.npy`` and ``.npz`` files as sources, read without loading them whole.

A ``.npy`` is memory-mapped (``np.load(mmap_mode="r")``), so a dataset larger
than memory is read a block at a time.  An ``.npz`` member stored without
compression is memory-mapped too, at its offset inside the zip.  A compressed
member cannot be memory-mapped: it is decompressed as a stream, a block at a
time, and reading chosen samples again means decompressing from the start.

Not supported: arrays of Python objects (they are pickles, never loaded),
strings, structured and complex dtypes, and 0-dimensional arrays; each is a
``files`` problem naming the file.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stager.data.formats.base import NUMERIC_KINDS, ArraySource, Block, FileProblem, Source, SourceProblem

NPY_MAGIC = b"\x93NUMPY"


def _check_array(shape: tuple, dtype: np.dtype) -> None:
    if len(shape) == 0:
        raise FileProblem("holds a single value, not an array of samples")
    if dtype.hasobject:
        raise FileProblem("holds Python objects (a pickle), which stager never loads")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise FileProblem(f"dtype {dtype} is not supported (booleans, integers and floats only)")


def _read_header(f) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream ``f``, left positioned after the header."""
    magic = f.read(8)
    if len(magic) < 8 or magic[:6] != NPY_MAGIC:
        raise FileProblem("not a .npy array (no NUMPY magic)")
    version = (magic[6], magic[7])
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise FileProblem(f".npy format version {version[0]}.{version[1]} is not supported")
    try:
        return readers[version](f)
    except ValueError as exc:
        raise FileProblem(f"unreadable .npy header ({str(exc).splitlines()[0]})") from None


def open_npy(path: Path, rel: str) -> ArraySource:
    """A memory-mapped ``.npy`` file.

    Raises:
        FileProblem: not an .npy file, truncated, or of an unsupported dtype.
    """
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _read_header(f)
            header_end = f.tell()
        _check_array(shape, dtype)
        needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        have = path.stat().st_size - header_end
        if have < needed:
            raise FileProblem(f"truncated: header says {tuple(shape)} {dtype} ({needed} bytes of data), "
                              f"the file has {have}")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as exc:
        raise FileProblem(f"cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise FileProblem(f"does not load ({str(exc).splitlines()[0]})") from None
    return ArraySource(array, rel)


_PIECE = 64 * 1024


def _read_up_to(f, size: int) -> np.ndarray:
    """Up to ``size`` bytes of ``f`` as a uint8 array, read in small pieces.

    One large ``read`` on a compressed zip member holds several copies of the
    data at once (zipfile joins its buffers); small pieces keep that overhead
    to a fraction of the block.
    """
    out = np.empty(size, dtype=np.uint8)
    filled = 0
    while filled < size:
        piece = f.read(min(_PIECE, size - filled))
        if not piece:
            break
        out[filled:filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        filled += len(piece)
    return out[:filled]


class NpzStreamSource(Source):
    """A compressed ``.npz`` member, decompressed a block at a time."""

    def __init__(self, path: Path, member: str, rel: str, shape: tuple, dtype: np.dtype):
        super().__init__([rel], [shape[0]], shape[1:], dtype)
        self.path, self.member, self.rel = path, member, rel

    def _stream(self, chunk_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
        step = self.rows_per_block(chunk_bytes)
        done = 0
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
                _read_header(f)
                while done < self.length:
                    rows = min(step, self.length - done)
                    data = _read_up_to(f, rows * self.row_bytes)
                    got = len(data) // self.row_bytes
                    if got:
                        yield done, data[:got * self.row_bytes].view(self.dtype).reshape(got, *self.sample_shape)
                        done += got
                    if got < rows:
                        raise FileProblem(f"member {self.member} stops after {done} of {self.length} samples")
                f.read(1)  # reaching the end makes zipfile compare the CRC
        except FileProblem as exc:
            self._problem(str(exc), done)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            self._problem(f"member {self.member} is corrupt ({exc})", done)

    def _problem(self, message: str, done: int) -> None:
        problem = SourceProblem("files", self.rel, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def _blocks(self, chunk_bytes: int) -> Iterator[Block]:
        for start, rows in self._stream(chunk_bytes):
            yield Block(np.arange(start, start + len(rows), dtype=np.int64), rows)

    def _take(self, indices: np.ndarray, chunk_bytes: int) -> Iterator[Block]:
        for start, rows in self._stream(chunk_bytes):
            lo, hi = np.searchsorted(indices, [start, start + len(rows)])
            if hi > lo:
                chosen = indices[lo:hi]
                yield Block(chosen, rows[chosen - start])


def _stored_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where the member's bytes start in the zip file (after its local header)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise FileProblem(f"member {info.filename} has a damaged local header")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        return info.header_offset + 30 + name_len + extra_len


def open_npz_member(path: Path, rel: str, name: str) -> Source:
    """Array ``name`` (``x`` or ``y``) of an ``.npz`` file.

    Raises:
        FileProblem: the zip or the member is damaged, missing, or of an unsupported dtype.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            if name not in members:
                have = ", ".join(sorted(members)) or "none"
                raise FileProblem(f"no array `{name}` (arrays: {have}); save it with np.savez(path, x=..., y=...)")
            info = zf.getinfo(members[name])
            with zf.open(info) as f:
                shape, fortran, dtype = _read_header(f)
                header_len = f.tell()
        _check_array(shape, dtype)
        needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.file_size - header_len != needed:
            raise FileProblem(f"member {members[name]} holds {info.file_size - header_len} bytes of data, "
                              f"its header {tuple(shape)} {dtype} needs {needed}")
        if info.compress_type != zipfile.ZIP_STORED or fortran:
            if fortran:
                # Rows of a Fortran-ordered array are not contiguous in the stream: read it whole.
                with zipfile.ZipFile(path) as zf, zf.open(info) as f:
                    return ArraySource(np.load(f, allow_pickle=False), rel)
            return NpzStreamSource(path, members[name], rel, shape, dtype)
        offset = _stored_offset(path, info) + header_len
        if shape[0] == 0:
            return ArraySource(np.empty(shape, dtype), rel)
        return ArraySource(np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape)), rel)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise FileProblem(f"not a readable .npz ({exc})") from None
    except OSError as exc:
        raise FileProblem(f"cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise FileProblem(f"does not load ({str(exc).splitlines()[0]})") from None
