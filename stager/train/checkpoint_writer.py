"""Checkpoints written and made durable off the training thread.

Training waits only while ``torch.save`` serialises a checkpoint into memory (or, for
a large one, into its temporary file), so the file holds exactly the state of that
moment.  The rest only waits for the disk: writing those bytes to the temporary
file, the fsync, the rename over the final name, the folder's fsync, and deleting
the checkpoints the new one replaces.  One background thread does that, in the
order it was asked.  A crash at any point still leaves the old file or the new one.
A deletion queued behind a write runs only once that write is durable.

The trainer announces a checkpoint (``on_checkpoint_saved``, a logger's
``after_save_checkpoint``) on its own thread, at the first batch boundary after the
checkpoint is durable, with the epoch and step it was saved at (``SavedCheckpoint``).
A checkpoint is never deleted, nor replaced by a later save of the same name, before it
was announced: a callback can still read or copy the very file it is told of.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

try:
    import resource
except ImportError:  # Windows: no peak to compare with, so no checkpoint is held in memory
    resource = None

from stager.train.checkpoint import (
    PendingCheckpoint,
    commit,
    discard,
    remove_own_temp_files,
    serialize,
    write_pending,
    write_serialized_pending,
)

# A checkpoint estimated at up to this share of the process's peak memory so far is
# serialised into memory on the training thread and written to disk by the background
# thread; a larger one is written to its temporary file on the training thread, so the
# bytes held in memory for the writer never add more than about 1% to the peak.
IN_MEMORY_SHARE = 0.01


class SavedCheckpoint(str):
    """A checkpoint's path, with the ``epoch`` and ``global_step`` it was saved at.

    It is announced a few batches after the save, when the trainer has moved on.
    """

    epoch: int
    global_step: int

    def __new__(cls, path: str, epoch: int, global_step: int) -> SavedCheckpoint:
        saved = super().__new__(cls, path)
        saved.epoch, saved.global_step = epoch, global_step
        return saved

    def __reduce__(self):
        return (SavedCheckpoint, (str(self), self.epoch, self.global_step))


class CheckpointWriter:
    """Atomic checkpoint saves whose durable part runs on one background thread."""

    def __init__(self) -> None:
        # Paths made durable and not yet announced: the worker appends, the trainer pops.
        self.durable: collections.deque[str] = collections.deque()
        self._executor: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._unannounced: collections.Counter[str] = collections.Counter()  # saves asked for, not announced
        self._delete_when_announced: set[str] = set()
        self._folders: set[str] = set()  # where this writer has saved, for close() to tidy

    def __reduce__(self):
        # A spawned DDP worker gets a writer of its own: threads stay in this process.
        return (CheckpointWriter, ())

    def save(self, obj: Any, path: str, background: bool, announce: Callable[[str], None]) -> None:
        """Write ``obj`` to ``path`` atomically; with ``background`` return before it is durable.

        An earlier save of the same ``path`` that is not yet announced is first made durable
        and announced (``announce``): so every announcement sees its own save's file, never
        a later one renamed over it.  Normally that save finished long ago; when saves come
        faster than the disk takes them, this is where training waits for it.

        Raises:
            OSError: this write failed, or an earlier background one did.
        """
        self._raise_failure()
        self._folders.add(os.path.dirname(os.path.abspath(path)))
        if self._unannounced[path]:
            self.wait()
            self.announce_durable(announce)
        in_memory = background and _estimated_size(obj) <= IN_MEMORY_SHARE * _peak_memory()
        taken = serialize(obj) if in_memory else write_pending(obj, path)  # the state of this moment
        self._delete_when_announced.discard(path)  # saved anew: an earlier deletion no longer applies
        self._unannounced[path] += 1
        if background:
            self._submit(self._write_and_commit if in_memory else self._commit, taken, path)
            return
        try:
            self.wait()  # what was asked for before lands first
        except BaseException:
            discard(taken)
            raise
        self._commit(taken, path)  # on this thread: a save outside a fit starts no thread
        self.announce_durable(announce)

    def delete(self, path: str) -> None:
        """Delete ``path`` once the writes queued before are durable and it was announced."""
        if self._unannounced[path]:
            self._delete_when_announced.add(path)
        else:
            self._submit(_unlink, path)

    def announce_durable(self, announce: Callable[[str], None]) -> None:
        """Call ``announce(path)`` on this thread for each checkpoint made durable since the last call."""
        while self.durable:
            path = self.durable[0]  # taken off only once announced: an interrupt here does not lose it
            announce(path)
            self.durable.popleft()
            self._unannounced[path] -= 1
            if self._unannounced[path] <= 0:
                del self._unannounced[path]
                if path in self._delete_when_announced:
                    self._delete_when_announced.discard(path)
                    self._submit(_unlink, path)

    def wait(self) -> None:
        """Wait until everything asked for is done; raise the first failure among them."""
        futures, self._futures = self._futures, []
        if self._executor is not None:
            # The thread works in order, so this ends after all work queued before it, even
            # work whose future a Ctrl-C kept out of self._futures (between submit and append).
            futures.append(self._executor.submit(_nothing))
        failure = None
        for future in futures:
            error = future.exception()
            if error is not None and failure is None:
                failure = error
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Wait for the work asked for, stop the thread (a later save starts another), and
        delete any temporary file an interrupted save left behind."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            for folder in self._folders:
                remove_own_temp_files(folder)
            self._folders.clear()

    def _submit(self, work: Callable[..., Any], *args: Any) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stager-checkpoint")
        self._futures.append(self._executor.submit(work, *args))

    def _write_and_commit(self, chunks: list[bytes], path: str) -> None:
        self._commit(write_serialized_pending(chunks, path), path)

    def _commit(self, pending: PendingCheckpoint, path: str) -> None:
        commit(pending)
        self.durable.append(path)  # the caller's spelling, which delete() is given too

    def _raise_failure(self) -> None:
        """Raise a background failure now, at the next save, rather than at the end of training."""
        finished = [f for f in self._futures if f.done()]
        if finished:
            self._futures = [f for f in self._futures if f not in finished]
            for future in finished:
                if future.exception() is not None:
                    raise future.exception()


def _estimated_size(checkpoint: Any) -> float:
    """Bytes ``checkpoint`` takes serialised, roughly: its weights and the optimizer's
    state for them (two tensors per weight for Adam), and room for the rest."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        return float("inf")
    return 4 * sum(value.nbytes for value in state.values() if isinstance(value, torch.Tensor))


def _peak_memory() -> int:
    """Bytes: the most this process has held in memory (resident) so far."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB


def _nothing() -> None:
    pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
