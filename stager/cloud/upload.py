"""The plain PUT of an image file to the ``upload_to`` URL Linode hands out.

Streamed from disk through a file-like object that counts what requests reads,
so a 5 GB image never sits in memory and a progress bar can follow it. The URL
is signed: whoever holds it can write the image, so it appears in no message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests

from stager.cloud.errors import CloudError

CHUNK = 1024 * 1024
TIMEOUT = (30, 600)  # connect, then each read; Linode may take a while to answer after the last byte


class ProgressReader:
    """A read-only file that reports ``(bytes sent, total)`` after every read."""

    def __init__(self, handle, total: int, progress: Callable[[int, int], None] | None) -> None:
        self._handle = handle
        self._total = total
        self._sent = 0
        self._reported = 0
        self._progress = progress

    def __len__(self) -> int:  # requests sets Content-Length from this instead of sending chunked
        return self._total

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(CHUNK if size is None or size < 0 else size)
        self._sent += len(data)
        # requests reads in small blocks: report about once a megabyte, and at the end.
        if self._progress is not None and data and (self._sent - self._reported >= CHUNK or self._sent >= self._total):
            self._reported = self._sent
            self._progress(self._sent, self._total)
        return data


def put_file(url: str, path: Path, size: int, *, what: str,
             progress: Callable[[int, int], None] | None = None) -> None:
    """PUT ``path`` to ``url`` as ``application/octet-stream``.

    Raises:
        CloudError: the server refused the upload or could not be reached; the
            message names ``what`` and the server's reason, never the URL.
    """
    error: CloudError | None = None
    with open(path, "rb") as handle:
        try:
            response = requests.put(url, data=ProgressReader(handle, size, progress), timeout=TIMEOUT,
                                    headers={"Content-Type": "application/octet-stream"})
        except requests.RequestException as exc:
            error = CloudError(f"{what} failed: the upload did not complete ({type(exc).__name__})")
            response = None
    if error is not None:
        raise error
    if response.status_code >= 400:
        raise CloudError(f"{what} failed: {_reason(response)} (HTTP {response.status_code})",
                         status=response.status_code)


def _reason(response) -> str:
    """The server's reason: Linode's JSON errors, or an S3-style XML error's code and message.

    Nothing else of the body is echoed: an S3 error can quote the signed request.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors") or []
        reasons = [" ".join(str(e.get("reason") or "").split()) for e in errors if isinstance(e, dict)]
        return "; ".join(r for r in reasons if r) or "no reason given"
    code = re.search(r"<Code>([^<]{1,100})</Code>", response.text or "")
    message = re.search(r"<Message>([^<]{1,300})</Message>", response.text or "")
    parts = [m.group(1).strip() for m in (code, message) if m]
    return ": ".join(parts) or "no reason given"
