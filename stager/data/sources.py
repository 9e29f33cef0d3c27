"""External sources: files a dataset downloads from https URLs, each pinned by its sha256.

In a pipeline::

    data:
      mnist:
        path: data/mnist
        sources:
          - {url: https://example.org/mnist/train.npz, sha256: 3f1c...e9, path: raw/train.npz}

`parse_sources` checks the list where it was written (errors name file, line
and field); `fetch_sources` brings each file to ``<dataset>/<path>``. A download
goes to a partial file beside its destination, ``.<name>.part`` (a dot-file, so
never taken for data), continues with an HTTP ``Range`` request after a dropped
connection or an interrupted run, is checked against its pin and only then
renamed into place. A file already present with the pinned sha256 is not
requested at all. A server that ignores ``Range`` is downloaded again from the
start.

Not supported: credentials or custom headers, ftp/s3 and other schemes, plain
http except to loopback addresses (for tests), archives (a source is one file;
unpack it in the trainer's data module), mirrors, parallel downloads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import posixpath
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError, ReadTimeoutError

from stager.errors import ConfigError, JobFailed
from stager.hashing import sha256_file
from stager.suggest import did_you_mean
from stager.yamlio import YamlDoc

__all__ = ["Source", "SourceFailed", "fetch_sources", "parse_sources", "part_path"]

_FIELDS = ("url", "sha256", "path")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK = 1 << 20
_RESUMES = 3  # a dropped connection is resumed this many times in one call, as long as bytes keep coming
_PROGRESS_EVERY_S = 2.0


class SourceFailed(JobFailed):
    """A source could not be fetched, or its bytes do not match the pinned sha256."""


@dataclass(frozen=True)
class Source:
    url: str  # https (http only to a loopback address)
    sha256: str  # the pinned hex digest, lower case
    path: str  # where the file goes, relative to the dataset folder (POSIX separators)

    def to_json(self) -> dict:
        """The shape a manifest keeps in ``sources``."""
        return {"url": self.url, "path": self.path, "sha256": self.sha256}


def parse_sources(items, *, doc: YamlDoc | None = None, where: str = "sources") -> list[Source]:
    """Check a ``sources`` list as written in a pipeline and return it typed.

    Each item is a mapping with ``url``, ``sha256`` and ``path``; ``path`` may be
    left out when the URL ends in a file name, which is then used.

    Raises:
        ConfigError: not a list; an item not a mapping or with an unknown field;
            a URL that is not https (http is allowed for loopback addresses only)
            or has no host; a sha256 missing or not 64 hex digits; a path that is
            absolute, holds ``..`` or a dot-file component, or is used twice
            (or as a file and a folder). Located through ``doc`` when given.
    """
    def fail(field: str, problem: str, hint: str | None = None) -> ConfigError:
        if doc is not None:
            return doc.error(field, problem, hint)
        return ConfigError(problem, field=field, hint=hint)

    if not isinstance(items, list):
        raise fail(where, "must be a list of {url, sha256, path}", "e.g. [{url: https://..., sha256: <64 hex>, "
                                                                   "path: raw/file.npz}]")
    sources: list[Source] = []
    taken: dict[str, str] = {}  # path -> the field that claimed it
    for index, item in enumerate(items):
        at = f"{where}.{index}"
        if not isinstance(item, dict):
            raise fail(at, "each source must be a mapping with url, sha256 and path")
        for key in item:
            if key not in _FIELDS:
                raise fail(f"{at}.{key}", f"unknown field `{key}`", did_you_mean(str(key), _FIELDS)
                           or "a source has url, sha256 and path")
        url = item.get("url")
        problem_and_hint = _url_problem(url)
        if problem_and_hint:
            raise fail(f"{at}.url", *problem_and_hint)
        url = url.strip()
        digest = item.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest.strip()):
            raise fail(f"{at}.sha256", "must be the file's sha256: 64 hexadecimal digits" if digest is not None
                       else "missing: every source is pinned by its sha256",
                       "compute it with `sha256sum <file>` on a copy you trust")
        path = item.get("path")
        if path is None:
            path = posixpath.basename(urlsplit(url).path)
            if not path:
                raise fail(f"{at}.path", "missing, and the URL does not end in a file name",
                           "say where the file goes, e.g. path: raw/train.npz")
        problem = _path_problem(path)
        if problem:
            raise fail(f"{at}.path", problem, "a path relative to the dataset folder, e.g. raw/train.npz")
        path = posixpath.normpath(path)
        for other, claimed_at in taken.items():
            if path == other or path.startswith(other + "/") or other.startswith(path + "/"):
                raise fail(f"{at}.path", f"`{path}` clashes with `{other}` of {claimed_at}",
                           "give each source its own file")
        taken[path] = at
        sources.append(Source(url=url, sha256=digest.strip().lower(), path=path))
    return sources


def fetch_sources(sources: list[Source], root: Path, *, say: Callable[[str], None] = print,
                  progress: bool | None = None, timeout: float = 60) -> list[Path]:
    """Download each source to ``root/<path>`` (resuming, verified); return the files' paths.

    ``progress`` None shows progress lines when stderr is a terminal. ``timeout``
    is for connecting and for each wait for more bytes.

    Raises:
        SourceFailed: a download's sha256 differs from its pin (the partial file
            is deleted; the message names URL, expected and actual hash); an HTTP
            error; an unreachable or silent host; a connection that kept dropping.
            The partial file of a failed download stays, to be resumed.
        KeyboardInterrupt: Ctrl-C; only the partial file is left, resumed next time.
    """
    show = sys.stderr.isatty() if progress is None else progress
    root = Path(root)
    done: list[Path] = []
    with requests.Session() as session:
        for source in sources:
            dest = root / source.path
            if dest.is_file() and sha256_file(dest) == source.sha256:
                say(f"{source.path}: present with the pinned sha256")
            else:
                if dest.exists():
                    say(f"{source.path}: present with another sha256; fetching the pinned file again")
                _download(session, source, dest, say=say if show else None, timeout=timeout)
                say(f"{source.path}: fetched from {source.url}, sha256 verified")
            done.append(dest)
    return done


def part_path(dest: Path) -> Path:
    """The partial file a download of ``dest`` grows in: ``.<name>.part`` beside it."""
    return dest.with_name(f".{dest.name}.part")


def _download(session: requests.Session, source: Source, dest: Path, *, say: Callable[[str], None] | None,
              timeout: float) -> None:
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    resumes = restarts = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _transfer(session, source, part, say=say, timeout=timeout)
            break
        except _StartOver:
            restarts += 1
            if restarts > 1:
                raise SourceFailed(f"fetching {source.url} failed: the server refuses the range asked for "
                                   "(HTTP 416) even from the start") from None
        except (requests.Timeout, ReadTimeoutError):
            raise SourceFailed(f"fetching {source.url} failed: no answer within {timeout:g} s; run again to "
                               "resume") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, HTTPError, OSError) as exc:
            gained = (part.stat().st_size if part.exists() else 0) > before
            if gained and resumes < _RESUMES:  # the host answers but the line drops: go on from here
                resumes += 1
                continue
            raise SourceFailed(f"fetching {source.url} failed: {_reason(exc)}"
                               + ("; run again to resume" if part.exists() else "")) from None
        except requests.RequestException as exc:
            raise SourceFailed(f"fetching {source.url} failed: {_reason(exc)}") from None
    actual = sha256_file(part)
    if actual != source.sha256:
        part.unlink(missing_ok=True)
        raise SourceFailed(f"{source.url} does not match its pin: expected sha256 {source.sha256}, got {actual}; "
                           "the file was not kept (the pin or the file at that URL is wrong)")
    os.replace(part, dest)


class _StartOver(Exception):
    """The partial file cannot be continued (HTTP 416): it was deleted, so the next request starts over."""


class _ShortRead(HTTPError):
    """The server closed the connection before sending all it announced."""


def _transfer(session: requests.Session, source: Source, part: Path, *, say: Callable[[str], None] | None,
              timeout: float) -> None:
    """One request: continue ``part`` from its size, or start it over when the server sends the whole file."""
    offset = part.stat().st_size if part.exists() else 0
    # identity: the bytes hashed and resumed are the file's own, never a compressed form of it
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    # A loopback server is on this machine: a proxy from the environment could not reach it.
    direct = {"http": None, "https": None} if _is_loopback(urlsplit(source.url).hostname or "") else None
    with session.get(source.url, headers=headers, stream=True, timeout=timeout, proxies=direct) as response:
        if response.status_code == 416 and offset:  # the partial file is not a prefix of this file
            part.unlink()
            raise _StartOver
        if response.status_code >= 400:
            raise SourceFailed(f"fetching {source.url} failed: HTTP {response.status_code} {response.reason}")
        resumed = response.status_code == 206 and _range_start(response) == offset
        if offset and not resumed and say is not None:
            say(f"{source.path}: the server does not resume downloads; starting over")
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length and length.isdigit() else None
        written = start
        last_shown = time.monotonic()
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in response.raw.stream(_CHUNK, decode_content=False):
                out.write(chunk)
                written += len(chunk)
                if say is not None and time.monotonic() - last_shown >= _PROGRESS_EVERY_S:
                    last_shown = time.monotonic()
                    say(f"{source.path}: {_size(written)}" + (f" of {_size(expected)}" if expected else ""))
        if expected is not None and written < expected:
            raise _ShortRead(f"the connection closed after {written} of {expected} bytes")


def _range_start(response: requests.Response) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _url_problem(url) -> tuple[str, str | None] | None:
    """What is wrong with ``url`` and how to fix it, or None."""
    if not isinstance(url, str) or not url.strip():
        return "missing: every source needs the https URL of its file", None
    parts = urlsplit(url.strip())
    if parts.username or parts.password:  # checked first, so no message repeats the secret
        return "a URL must not hold credentials", "sources are public files pinned by their sha256"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"`{url}` is not an https URL", "write https://host/path"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"`{url}` is plain http", "use https: plain http is allowed for loopback addresses only"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def _path_problem(path) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return "must be a non-empty relative path"
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        return f"`{path}` must be relative to the dataset folder, with '/' between folders"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return f"`{path}` must not climb out of the dataset folder with `..`"
    if not parts:
        return f"`{path}` names no file"
    if any(p.startswith(".") for p in parts):
        return f"`{path}` has a name starting with '.', which stager never counts as data"
    return None


def _reason(exc: BaseException) -> str:
    """One line about a connection failure, without urllib3's nested reprs."""
    text = str(exc)
    for pattern in (r"Failed to establish a new connection: \[Errno -?\d+\] ([^'\")]+)",
                    r"\[Errno -?\d+\] ([^'\")]+)",
                    r"(Connection refused|Connection reset by peer|Name or service not known)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"

