"""Files to and from an instance over SFTP, each one checked by sha256 on both sides.

The local side hashes with hashlib, the instance with its own ``sha256sum``, so a
file is only called transferred once the bytes at the far end are the bytes
that were meant. Uploads go to a temporary name beside the target and are
renamed into place once verified; downloads likewise. Either way a reader never
sees a half-written file, and a failed transfer leaves no temporary file
behind. A directory is verified as a whole before any of its files is renamed
into place.

Relative remote paths are relative to the login user's home (SFTP and commands
agree on that); absolute ones are taken as they are.

Not supported: symbolic links to directories (not followed, on either side;
links to files are copied as the file), special files, ownership and
timestamps. Only the permission bits of uploaded files are kept.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stager.hashing import sha256_file
from stager.remote.errors import TransferError
from stager.remote.quoting import quote

if TYPE_CHECKING:
    from stager.remote.output import CommandLog, CommandResult

__all__ = ["TransferMethods", "sha256_file"]

_PART = ".stager-part-"  # temporary files carry this plus a random suffix
_SCRIPT_LIMIT = 64 * 1024  # characters per hashing command; far under any ARG_MAX
_HASH_TIMEOUT_S = 3600.0  # hashing a very large checkpoint takes a while; a dead link does not wait forever
_MISSING = "missing"


class TransferMethods:
    """`Remote`'s file methods; they rely on its `_exec`, `_sftp_call` and `_log`."""

    if TYPE_CHECKING:
        _log: CommandLog

        def _exec(self, cmd: str, shown: str, *, check: bool, timeout: float | None,
                  log: CommandLog | None) -> CommandResult: ...
        def _sftp_call(self, action): ...

    def sha256(self, remote_path: str) -> str:
        """The hex sha256 of a file on the instance, by its ``sha256sum``.

        Raises:
            TransferError: no such regular file (or it cannot be read).
            SshConnectionError: the connection failed.
        """
        (digest,) = self._remote_hashes([remote_path])
        if digest is None:
            raise TransferError(f"{remote_path} on the instance is missing or unreadable", path=remote_path)
        return digest

    def put_file(self, local: Path, remote: str) -> str:
        """Upload ``local`` to ``remote`` (parent directories created); return its sha256.

        Raises:
            TransferError: ``local`` is not a readable file, or the bytes that
                arrived differ from it.
            SshConnectionError: the connection failed.
        """
        local = Path(local)
        digest = self._put_all([(local, remote)])[0]
        self._log.note(f"put {local} -> {remote} sha256:{digest}")
        return digest

    def get_file(self, remote: str, local: Path) -> str:
        """Download ``remote`` to ``local`` (parent directories created); return its sha256.

        Raises:
            TransferError: ``remote`` is missing, or the bytes that arrived
                differ from it.
            SshConnectionError: the connection failed.
        """
        local = Path(local)
        digest = self._get_all([(remote, local)])[0]
        self._log.note(f"get {remote} -> {local} sha256:{digest}")
        return digest

    def put_dir(self, local_dir: Path, remote_dir: str) -> dict[str, str]:
        """Upload every file under ``local_dir`` into ``remote_dir``; return relative posix path -> sha256.

        Empty directories are created too. Files already in ``remote_dir``
        and absent locally are left alone.

        Raises:
            TransferError: ``local_dir`` is not a directory, or a file arrived
                different (then no file of this call is renamed into place).
            SshConnectionError: the connection failed.
        """
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise TransferError(f"cannot upload {local_dir}: not a directory", path=str(local_dir))
        files, dirs = _walk_local(local_dir)
        try:
            self._sftp_call(lambda sftp: [_makedirs(sftp, posixpath.join(remote_dir, d)) for d in ["", *dirs]])
        except OSError as exc:
            raise TransferError(f"cannot create {remote_dir} on the instance: {_reason(exc)}",
                                path=remote_dir) from None
        digests = self._put_all([(local_dir / rel, posixpath.join(remote_dir, rel)) for rel in files])
        self._log.note(f"put {local_dir} -> {remote_dir} ({len(files)} files)")
        return dict(zip(files, digests))

    def get_dir(self, remote_dir: str, local_dir: Path) -> dict[str, str]:
        """Download every file under ``remote_dir`` into ``local_dir``; return relative posix path -> sha256.

        Raises:
            TransferError: ``remote_dir`` is not a directory, or a file arrived
                different (then no file of this call is renamed into place).
            SshConnectionError: the connection failed.
        """
        local_dir = Path(local_dir)
        try:
            files, dirs = self._sftp_call(lambda sftp: _walk_remote(sftp, remote_dir))
        except OSError as exc:
            raise TransferError(f"cannot download {remote_dir}: {_reason(exc)}", path=remote_dir) from None
        for rel in ["", *dirs]:
            (local_dir / rel).mkdir(parents=True, exist_ok=True)
        digests = self._get_all([(posixpath.join(remote_dir, rel), local_dir / rel) for rel in files])
        self._log.note(f"get {remote_dir} -> {local_dir} ({len(files)} files)")
        return dict(zip(files, digests))

    # -- the work ------------------------------------------------------------------

    def _put_all(self, pairs: Sequence[tuple[Path, str]]) -> list[str]:
        expected = []
        for local, _ in pairs:
            try:
                expected.append(sha256_file(local))
            except OSError as exc:
                raise TransferError(f"cannot upload {local}: {_reason(exc)}", path=str(local)) from None
        parts = [_part_name(remote) for _, remote in pairs]

        current = [""]  # the file being sent, for the error message

        def upload(sftp) -> None:
            for (local, remote), part in zip(pairs, parts):
                current[0] = str(local)
                _makedirs(sftp, posixpath.dirname(remote))
                sftp.put(os.fspath(local), part)
                sftp.chmod(part, stat.S_IMODE(os.stat(local).st_mode))

        try:
            try:
                self._sftp_call(upload)
            except OSError as exc:
                raise TransferError(f"cannot upload {current[0]}: {_reason(exc)}", path=current[0]) from None
            arrived = self._remote_hashes(parts)
            for (local, remote), want, got in zip(pairs, expected, arrived):
                if got != want:
                    raise TransferError(
                        f"{local} arrived as {remote} with sha256 {got or 'unreadable'}, expected {want}",
                        path=str(local),
                    )
            self._sftp_call(lambda sftp: [sftp.posix_rename(part, remote) for part, (_, remote) in zip(parts, pairs)])
        except BaseException:
            self._remove_remote(parts)
            raise
        return expected

    def _get_all(self, pairs: Sequence[tuple[str, Path]]) -> list[str]:
        expected = self._remote_hashes([remote for remote, _ in pairs])
        for (remote, _), digest in zip(pairs, expected):
            if digest is None:
                raise TransferError(f"cannot download {remote}: missing or unreadable on the instance", path=remote)
        parts = [local.with_name(f".{local.name}{_PART}{secrets.token_hex(4)}") for _, local in pairs]

        current = [""]  # the file being fetched, for the error message

        def download(sftp) -> None:
            for (remote, local), part in zip(pairs, parts):
                current[0] = remote
                local.parent.mkdir(parents=True, exist_ok=True)
                sftp.get(remote, os.fspath(part))

        try:
            try:
                self._sftp_call(download)
            except OSError as exc:
                raise TransferError(f"cannot download {current[0]}: {_reason(exc)}", path=current[0]) from None
            for (remote, local), want, part in zip(pairs, expected, parts):
                got = sha256_file(part)
                if got != want:
                    raise TransferError(f"{remote} arrived as {local} with sha256 {got}, expected {want}", path=remote)
            for (remote, local), part in zip(pairs, parts):
                try:
                    os.replace(part, local)
                except OSError as exc:
                    raise TransferError(f"cannot write {local}: {_reason(exc)}", path=remote) from None
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        return [digest for digest in expected if digest is not None]  # all are, by now

    def _remote_hashes(self, paths: Sequence[str]) -> list[str | None]:
        """The instance's sha256 of each path, None where it is not a readable file; one command per batch.

        ``sha256sum`` reads each file from stdin, so its output is one line per
        file whatever the names hold (it escapes names with newlines otherwise).
        """
        found: list[str | None] = []
        for batch in _batches([f"{{ sha256sum < {quote(p)} 2>/dev/null || echo {_MISSING}; }} | cut -c1-64"
                               for p in paths]):
            result = self._exec("\n".join(batch), f"sha256sum of {len(batch)} files", check=True,
                                timeout=_HASH_TIMEOUT_S, log=None)
            lines = result.stdout.split()
            if len(lines) != len(batch):
                raise TransferError(f"sha256sum answered {len(lines)} lines for {len(batch)} files",
                                    path=paths[len(found)])
            found += [None if line == _MISSING else line for line in lines]
        return found

    def _remove_remote(self, paths: Sequence[str]) -> None:
        """Best effort: temporary files must not pile up, but their removal must not hide the real error."""
        def remove(sftp) -> None:
            for path in paths:
                with contextlib.suppress(OSError):
                    sftp.remove(path)

        with contextlib.suppress(Exception):
            self._sftp_call(remove)


def _part_name(remote: str) -> str:
    head, name = posixpath.split(remote)
    if not name:
        raise TransferError(f"{remote!r} names a directory, not a file", path=remote)
    return posixpath.join(head, f".{name}{_PART}{secrets.token_hex(4)}")


def _batches(lines: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if batches[-1] and size + len(line) > _SCRIPT_LIMIT:
            batches.append([])
            size = 0
        batches[-1].append(line)
        size += len(line) + 1
    return [b for b in batches if b]


def _makedirs(sftp, path: str) -> None:
    """``mkdir -p`` over SFTP."""
    if path in ("", ".", "/"):
        return
    try:
        if stat.S_ISDIR(sftp.stat(path).st_mode):
            return
        raise NotADirectoryError(f"{path} exists and is not a directory")
    except FileNotFoundError:
        pass
    _makedirs(sftp, posixpath.dirname(path.rstrip("/")))
    try:
        sftp.mkdir(path)
    except OSError:
        if not stat.S_ISDIR(sftp.stat(path).st_mode):  # someone else made it meanwhile
            raise


def _walk_local(root: Path) -> tuple[list[str], list[str]]:
    """Files (links to files included) and directories under ``root``, as sorted relative posix paths."""
    files, dirs = [], []
    for current, subdirs, names in os.walk(root):
        rel = Path(current).relative_to(root)
        for name in subdirs:
            if not (Path(current) / name).is_symlink():
                dirs.append((rel / name).as_posix())
        for name in names:
            if (Path(current) / name).is_file():
                files.append((rel / name).as_posix())
    return sorted(files), sorted(dirs)


def _walk_remote(sftp, root: str) -> tuple[list[str], list[str]]:
    files, dirs = [], []
    pending = [""]
    while pending:
        rel = pending.pop()
        for attr in sftp.listdir_attr(posixpath.join(root, rel) if rel else root):
            child = posixpath.join(rel, attr.filename) if rel else attr.filename
            mode = attr.st_mode or 0
            if stat.S_ISLNK(mode):
                try:
                    mode = sftp.stat(posixpath.join(root, child)).st_mode or 0
                except OSError:
                    continue  # a dangling link
                if stat.S_ISREG(mode):
                    files.append(child)
            elif stat.S_ISDIR(mode):
                dirs.append(child)
                pending.append(child)
            elif stat.S_ISREG(mode):
                files.append(child)
    return sorted(files), sorted(dirs)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
