"""``CheckpointPush``: each checkpoint the trainer saves goes to Object Storage as soon as it is on disk.

The run engine adds it to the trainer's callbacks on the instance::

    {class_path: stager.run.push.CheckpointPush,
     init_args: {endpoint_url: https://us-east-1.linodeobjects.com, bucket: outputs, prefix: runs/r-abc/checkpoints}}

A checkpoint ``<dir>/<name>`` goes to ``s3://<bucket>/<prefix>/<name>`` with its
sha256 in the object's metadata (``sha256``), in one managed upload: readers see
the old object or the new one, never part of one. Then ``<prefix>/index.json`` is
rewritten::

    {"version": 1, "last": "last.ckpt",
     "checkpoints": {"last.ckpt": {"key": ..., "size": ..., "sha256": ..., "step": ..., "epoch": ...}, ...}}

``last`` names the most recently saved checkpoint that was pushed: the one a
resumed run starts from. An index already under the prefix (an earlier attempt
of the same run) is read first and added to. When ``ModelCheckpoint`` deletes a
top-k file it no longer ranks, the pushed copy and its index entry stay: the
bucket keeps every checkpoint ever pushed (until the run's outputs are removed).

Uploads run in one background thread, in the order the checkpoints were saved,
so training does not wait for the network. Each file is first hard-linked (or,
across filesystems, copied) to a private name in a hidden folder next to it, so
a ``last.ckpt`` replaced by the next save, or a top-k file deleted, is still
uploaded whole and as it was (so a slow network keeps checkpoints not yet
pushed on disk until they are). A failed upload is tried ``tries`` times in all,
with backoff, then reported as a warning line on stderr (and a
``checkpoint_push_failed`` report record); training goes on. When fit ends
(or fails) the callback waits up to ``wait_at_end_s`` for pending uploads, so
the final checkpoint is in the bucket before the process exits.

Keys come from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or
``$STAGER_HOME/credentials.yaml`` (see ``stager.storage.credentials``), never
from the init arguments; they are resolved at setup, so a run without keys
fails before it trains. After each push, one report line (``stager.run.report``)::

    {"event": "checkpoint_pushed", "key", "size", "sha256", "step", "epoch"}

Only rank zero pushes (the trainer calls ``on_checkpoint_saved`` there alone).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from stager.errors import JobFailed
from stager.hashing import sha256_file
from stager.run.report import emit
from stager.train.callbacks.base import Callback
from stager.train.checkpoint_writer import SavedCheckpoint

__all__ = ["INDEX_NAME", "BadIndex", "CheckpointPush", "index_key", "read_index"]

INDEX_NAME = "index.json"
INDEX_VERSION = 1
_STAGING_PREFIX = ".stager-push-"


def _join(prefix: str, name: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def index_key(prefix: str) -> str:
    """The key of the index object under ``prefix``."""
    return _join(prefix, INDEX_NAME)


class BadIndex(JobFailed):
    """The object at the index's key is not an index."""


def read_index(client, bucket: str, prefix: str) -> dict | None:
    """The index ``CheckpointPush`` wrote under ``prefix``; None when there is none.

    ``client`` is a stager S3 client (``stager.storage.s3.make_client``).

    Raises:
        BadIndex: the object is not valid JSON, or not an index.
        JobFailed: the endpoint failed.
        UsageError: the bucket does not exist, or the keys are refused.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from stager.storage.errors import describe

    key = index_key(prefix)
    where = f"s3://{bucket}/{key}"
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if error.get("Code") in ("NoSuchKey", "404", "NotFound") or status == 404:
            return None
        raise describe(exc, action="reading the checkpoint index", where=where,
                       endpoint=client.meta.endpoint_url, bucket=bucket) from None
    except BotoCoreError as exc:
        raise describe(exc, action="reading the checkpoint index", where=where,
                       endpoint=client.meta.endpoint_url, bucket=bucket) from None
    try:
        data = json.loads(body)
    except ValueError:
        raise BadIndex(f"{where} is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), dict):
        raise BadIndex(f"{where} is not a checkpoint index (no checkpoints mapping)")
    return data


def _warn(message: str) -> None:
    try:
        print(f"stager: warning: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _why(exc: BaseException, *, action: str, where: str, endpoint: str, bucket: str) -> str:
    """One line on why ``exc`` happened, without anything secret (botocore's request is never shown)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stager.storage.errors import describe

    if isinstance(exc, (BotoCoreError, ClientError)):
        return str(describe(exc, action=action, where=where, endpoint=endpoint, bucket=bucket))
    text = " ".join(str(exc).split())[:300]
    return f"{action} failed: {type(exc).__name__}" + (f": {text}" if text else "")


@dataclass
class _Job:
    staged: str  # the private hard link or copy that is uploaded
    name: str
    key: str
    step: int
    epoch: int


class _Worker:
    """One daemon thread running jobs in order; ``wait`` blocks until all are done (or a timeout)."""

    def __init__(self, run) -> None:
        self._run = run
        self._jobs: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="stager-checkpoint-push", daemon=True)
        self._thread.start()

    def submit(self, job: _Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + (1 if self._busy else 0)

    def wait(self, timeout: float) -> bool:
        """True when every submitted job is done; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self) -> None:
        """Let the thread end once its queue is empty (it is a daemon: an unfinished upload does not hold exit)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._busy = True
            try:
                self._run(job)
            except BaseException as exc:  # noqa: BLE001 - the thread must outlive any one job
                _warn(f"checkpoint {job.name} was not pushed: {type(exc).__name__}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class CheckpointPush(Callback):
    """Push each saved checkpoint to ``s3://<bucket>/<prefix>/`` in the background (see the module docstring)."""

    tries = 3  # attempts per upload, in all
    backoff_s = 2.0  # wait before the second attempt, doubled before each later one
    wait_at_end_s = 300.0  # the longest fit's end waits for pending uploads
    client_retries = 2  # botocore's own retries inside one attempt

    def __init__(self, endpoint_url: str, bucket: str, prefix: str) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self._settings = None  # S3Settings (keys hidden from its repr)
        self._client = None  # made in the upload thread
        self._index: dict | None = None  # read from the bucket before the first index write
        self._worker: _Worker | None = None
        self._staging: dict[str, str] = {}  # checkpoint folder -> its private staging folder
        self._staged = 0

    def __getstate__(self) -> dict[str, Any]:
        # Spawned DDP workers get the plain arguments; keys and threads stay in this process.
        return {"endpoint_url": self.endpoint_url, "bucket": self.bucket, "prefix": self.prefix}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_runtime()

    def __repr__(self) -> str:
        return f"CheckpointPush(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -- trainer hooks -----------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero and self._settings is None:
            self._settings = self._resolve()

    def _resolve(self):
        """The endpoint's settings with keys from the environment or credentials file.

        Raises:
            UsageError: no keys, or a malformed endpoint URL.
        """
        from stager.storage.credentials import resolve_settings
        from stager.storage.s3 import S3Location

        settings, _close = resolve_settings("linode", S3Location(self.bucket, self.prefix),
                                            endpoint_url=self.endpoint_url)
        return settings

    def on_checkpoint_saved(self, trainer, pl_module, path: SavedCheckpoint) -> None:
        name = os.path.basename(path)
        try:
            if self._settings is None:
                self._settings = self._resolve()
            staged = self._stage(path, name)
        except Exception as exc:  # noqa: BLE001 - a push problem must never stop training
            why = _why(exc, action="preparing the push", where=path, endpoint=self.endpoint_url, bucket=self.bucket)
            _warn(f"checkpoint {name} was not pushed: {why}")
            return
        if self._worker is None:
            self._worker = _Worker(self._push)
        job = _Job(staged, name, _join(self.prefix, name), path.global_step, path.epoch)
        self._worker.submit(job)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._wait()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._wait():
            self._cleanup()

    # -- staging -----------------------------------------------------------------
    def _stage(self, path: str, name: str) -> str:
        """A private name for ``path``'s current contents: later saves may replace or delete ``path``."""
        folder = os.path.dirname(os.path.abspath(path))
        staging = self._staging.get(folder)
        if staging is None:
            staging = self._staging[folder] = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=folder)
        self._staged += 1
        staged = os.path.join(staging, f"{self._staged:06d}-{name}")
        try:
            os.link(path, staged)  # the trainer writes by rename, so this inode never changes again
        except OSError:
            shutil.copyfile(path, staged)
        return staged

    def _wait(self) -> bool:
        """Wait (bounded) for pending uploads; True when none is left."""
        worker = self._worker
        if worker is None:
            return True
        if worker.wait(self.wait_at_end_s):
            return True
        _warn(f"{worker.pending()} checkpoint upload(s) still pending after {self.wait_at_end_s:.0f}s; "
              "not waiting longer")
        return False

    def _cleanup(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._staging = {}

    # -- the upload thread ----------------------------------------------------------
    def _push(self, job: _Job) -> None:
        try:
            size = os.path.getsize(job.staged)
            digest = sha256_file(job.staged)
            where = f"s3://{self.bucket}/{job.key}"
            if not self._attempt(lambda: self._upload(job, digest), action=f"pushing checkpoint {job.name}",
                                 where=where, key=job.key):
                return
        finally:
            try:
                os.unlink(job.staged)
            except OSError:
                pass
        entry = {"key": job.key, "size": size, "sha256": digest, "step": job.step, "epoch": job.epoch}
        self._attempt(lambda: self._write_index(job.name, entry), action="writing the checkpoint index",
                      where=f"s3://{self.bucket}/{index_key(self.prefix)}", key=job.key)
        emit({"event": "checkpoint_pushed", **entry})

    def _attempt(self, fn, *, action: str, where: str, key: str) -> bool:
        """``fn()``, tried ``tries`` times with backoff; False (after a warning) when every try failed."""
        delay = self.backoff_s
        for attempt in range(1, self.tries + 1):
            try:
                fn()
                return True
            except Exception as exc:  # noqa: BLE001 - reported below, never raised into training
                if attempt < self.tries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                why = _why(exc, action=action, where=where, endpoint=self.endpoint_url, bucket=self.bucket)
                _warn(f"{why} (gave up after {self.tries} tries; training goes on)")
                emit({"event": "checkpoint_push_failed", "key": key, "error": why})
        return False

    def _s3(self):
        if self._client is None:
            from stager.storage.s3 import make_client

            self._client = make_client(self._settings, retries=self.client_retries)
        return self._client

    def _upload(self, job: _Job, digest: str) -> None:
        from stager.storage.s3 import transfer_config

        self._s3().upload_file(job.staged, self.bucket, job.key, ExtraArgs={"Metadata": {"sha256": digest}},
                               Config=transfer_config())

    def _write_index(self, name: str, entry: dict) -> None:
        if self._index is None:
            try:
                self._index = read_index(self._s3(), self.bucket, self.prefix) or {}
            except BadIndex:  # damaged: start a new one rather than stop pushing
                self._index = {}
            self._index.setdefault("checkpoints", {})
        self._index["version"] = INDEX_VERSION
        self._index["checkpoints"][name] = entry
        self._index["last"] = name
        body = json.dumps(self._index, indent=1, sort_keys=True).encode()
        self._s3().put_object(Bucket=self.bucket, Key=index_key(self.prefix), Body=body,
                              ContentType="application/json")
