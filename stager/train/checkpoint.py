"""Writing and reading checkpoints.

A checkpoint is a self-describing dict (see ``Trainer.dump_checkpoint`` for its
keys).  It is written atomically: temporary file in the same folder, fsync,
rename, fsync of the folder, so a crash leaves either the old file or the new
one, never a truncated ``last.ckpt``.  The write and the rest are separate steps
(``write_pending``, ``commit``), so the rest can wait for the disk on another
thread (``checkpoint_writer.py``); ``serialize`` and ``write_serialized_pending``
split the write itself in two, so that the disk's part of it can move there too.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import torch

from stager.errors import UsageError


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` so that readers never see a partial file."""
    return commit(write_pending(obj, path))


class PendingCheckpoint(NamedTuple):
    """A checkpoint written into its temporary file, not yet durable nor at its path."""

    handle: BinaryIO
    temp_name: str
    path: Path


def write_pending(obj: Any, path: str | Path) -> PendingCheckpoint:
    """``torch.save`` ``obj`` into a new temporary file beside ``path``.

    Once this returns, the file holds exactly ``obj`` as it was: later changes to the
    tensors do not reach it.  ``commit`` makes it durable and puts it at ``path``.
    """
    return _write_pending(path, lambda handle: torch.save(obj, handle))


def serialize(obj: Any) -> list[bytes]:
    """``torch.save`` ``obj`` into memory: the bytes of the file, in the writer's chunks.

    Later changes to the tensors do not reach them.  ``write_serialized_pending`` puts
    them in a temporary file: what ``write_pending`` does, split in two.
    """
    sink = _Chunks()
    try:
        torch.save(obj, sink)
    except BaseException as exc:
        _raise_interrupt_behind(exc)
        raise
    return sink.chunks


def write_serialized_pending(chunks: list[bytes], path: str | Path) -> PendingCheckpoint:
    """``serialize``'s bytes into a new temporary file beside ``path``, for ``commit``."""
    return _write_pending(path, lambda handle: handle.writelines(chunks))


class _Chunks:
    """A write-only file in memory that keeps each write as it came (no growing buffer)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(self.chunks[-1])

    def flush(self) -> None:
        pass


def _write_pending(path: str | Path, write: Callable[[BinaryIO], Any]) -> PendingCheckpoint:
    path = Path(path)
    folder = path.parent
    if not os.path.isdir(folder):
        folder.mkdir(parents=True, exist_ok=True)
    fd, temp_name = _new_temp_file(folder, path.name)
    handle = os.fdopen(fd, "wb")
    try:
        write(handle)
        handle.flush()
    except BaseException as exc:
        discard(PendingCheckpoint(handle, temp_name, path))
        _raise_interrupt_behind(exc)
        raise
    return PendingCheckpoint(handle, temp_name, path)


def _raise_interrupt_behind(exc: BaseException) -> None:
    interrupt = _interrupt_behind(exc)
    if interrupt is not None and interrupt is not exc:
        raise interrupt from None


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that ``exc`` hides, if any.

    torch's zip writer closes the archive when ``torch.save`` is interrupted, fails on the
    half-written file and raises a RuntimeError over the KeyboardInterrupt: the interrupt
    is what happened, and what the caller must see.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


def commit(pending: PendingCheckpoint) -> Path:
    """fsync, rename over the final name, fsync the folder: the file is now durable at its path.

    A crash before the rename leaves the old file; the rename only follows the fsync.
    """
    try:
        with pending.handle:
            os.fsync(pending.handle.fileno())
        os.replace(pending.temp_name, pending.path)
    except BaseException:
        discard(pending)
        raise
    _fsync_dir(pending.path.parent)
    return pending.path


def discard(pending: PendingCheckpoint) -> None:
    """Close and delete a temporary file that will not become a checkpoint."""
    try:
        pending.handle.close()
    except OSError:
        pass  # closing flushes what is buffered, which may fail as the write did (a full disk)
    try:
        os.unlink(pending.temp_name)
    except FileNotFoundError:
        pass


_temp_numbers = itertools.count()


def _new_temp_file(folder: Path, name: str) -> tuple[int, str]:
    """A new, empty ``folder/.name.<pid>-<n>.tmp`` open for writing, as ``tempfile.mkstemp``
    makes one (``O_EXCL``, mode 0o600) but without its per-call set-up: the trainer saves
    between training steps."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp_name = os.path.join(folder, f".{name}.{os.getpid()}-{next(_temp_numbers)}.tmp")
        try:
            return os.open(tmp_name, flags, 0o600), tmp_name
        except FileExistsError:  # left behind by an earlier process with the same id
            continue


def remove_own_temp_files(folder: str | Path) -> None:
    """Delete this process's temporary checkpoint files in ``folder``.

    For when every save of this process is finished: what is left is a write cut short
    between creating its file and owning it (an interrupt lands between any two lines).
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return
    own = f".{os.getpid()}-"
    for name in names:
        if name.startswith(".") and name.endswith(".tmp") and own in name:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not support fsync on folders
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by stager (or Lightning); bad files are a UsageError.

    ``weights_only=False``: a checkpoint holds optimizer and RNG states, which are
    not plain tensors.  Load only checkpoints you or your runs wrote.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise UsageError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); it may be truncated") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UsageError(f"checkpoint {path} has no state_dict; it is not a stager or Lightning checkpoint")
    return checkpoint
