"""SFTP for a sandbox, jailed at its root directory.

Absolute client paths map under the root (``/root/x`` is ``<root>/root/x``),
relative ones are relative to the home ``/root``, and ``..`` stops at ``/`` as
under a chroot. A path that, once symlinks are resolved, lands outside the root
is refused with "permission denied", except inside attached volumes (their
links under ``/mnt`` and ``/dev/disk/by-id`` point outside on purpose).

The jail is a guard against path mistakes, not a security boundary: commands
run over exec see the whole host filesystem. Ownership changes (chown) are
ignored; only SFTP version 3 requests that paramiko serves are supported.
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
from collections.abc import Callable, Iterable

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK

__all__ = ["Jail", "JailedSFTP"]

_HOME = "/root"


class Jail:
    """Maps client paths to host paths under one root, refusing escapes."""

    def __init__(self, root: str | os.PathLike, volume_dirs: Callable[[], Iterable[os.PathLike]]) -> None:
        self.root = os.path.realpath(root)
        self._volume_dirs = volume_dirs  # directories of attached volumes, also allowed

    def jail_path(self, path: str) -> str:
        """The normalised absolute path, as the client sees it."""
        if not path.startswith("/"):
            path = posixpath.join(_HOME, path)
        norm = posixpath.normpath(path)
        return "/" + norm.lstrip("/")  # normpath keeps a leading "//"

    def host_path(self, path: str, *, follow: bool = True) -> str:
        """The host path for a client path; the last component is not resolved unless ``follow``.

        Raises:
            PermissionError: the path resolves outside the root and the volumes.
        """
        jailed = self.jail_path(path)
        host = os.path.normpath(self.root + jailed)
        if follow:
            real = os.path.realpath(host)
        elif jailed == "/":
            real = self.root
        else:
            real = os.path.join(os.path.realpath(os.path.dirname(host)), os.path.basename(host))
        self.check(real, path)
        return real

    def check(self, host: str, shown: str) -> None:
        """Raise PermissionError unless ``host`` lies in the root or a volume."""
        allowed = [self.root, *(os.path.realpath(v) for v in self._volume_dirs())]
        if not any(host == top or host.startswith(top.rstrip("/") + "/") for top in allowed):
            raise PermissionError(errno.EACCES, "path leads outside the sandbox", shown)

    def to_client(self, host: str) -> str:
        """A host path inside the root as the client sees it; others unchanged."""
        if host == self.root:
            return "/"
        if host.startswith(self.root + "/"):
            return host[len(self.root):]
        return host


def _sftp_errors(method: Callable) -> Callable:
    """Turn OSError into the SFTP status code paramiko sends back."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        except ValueError:  # e.g. a NUL byte in a path
            return SFTP_FAILURE

    return wrapper


class _Handle(paramiko.SFTPHandle):
    def __init__(self, flags: int, host_path: str, fileobj) -> None:
        super().__init__(flags)
        self.filename = host_path
        self.readfile = fileobj
        self.writefile = fileobj

    @_sftp_errors
    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    @_sftp_errors
    def chattr(self, attr):
        _set_attr(self.filename, attr)
        return SFTP_OK


class JailedSFTP(paramiko.SFTPServerInterface):
    """paramiko SFTP server interface serving a `Jail`."""

    def __init__(self, server: paramiko.ServerInterface, jail: Jail, *args, **kwargs) -> None:
        super().__init__(server, *args, **kwargs)
        self.jail = jail

    @_sftp_errors
    def open(self, path, flags, attr):
        host = self.jail.host_path(path)
        mode = attr.st_mode & 0o7777 if attr is not None and attr._flags & attr.FLAG_PERMISSIONS else 0o666
        fd = os.open(host, flags | getattr(os, "O_BINARY", 0), mode)
        if flags & os.O_WRONLY:
            fmode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            fmode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            fmode = "rb"
        try:
            return _Handle(flags, host, os.fdopen(fd, fmode))
        except OSError:
            os.close(fd)
            raise

    @_sftp_errors
    def list_folder(self, path):
        host = self.jail.host_path(path)
        out = []
        for name in os.listdir(host):
            attr = paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(host, name)))
            attr.filename = name
            out.append(attr)
        return out

    @_sftp_errors
    def stat(self, path):
        return paramiko.SFTPAttributes.from_stat(os.stat(self.jail.host_path(path)))

    @_sftp_errors
    def lstat(self, path):
        return paramiko.SFTPAttributes.from_stat(os.lstat(self.jail.host_path(path, follow=False)))

    @_sftp_errors
    def remove(self, path):
        os.remove(self.jail.host_path(path, follow=False))
        return SFTP_OK

    @_sftp_errors
    def rename(self, oldpath, newpath):
        # SFTP v3 rename never overwrites (OpenSSH refuses too); posix_rename does.
        old, new = self.jail.host_path(oldpath, follow=False), self.jail.host_path(newpath, follow=False)
        if os.path.lexists(new):
            return SFTP_FAILURE
        os.rename(old, new)
        return SFTP_OK

    @_sftp_errors
    def posix_rename(self, oldpath, newpath):
        os.replace(self.jail.host_path(oldpath, follow=False), self.jail.host_path(newpath, follow=False))
        return SFTP_OK

    @_sftp_errors
    def mkdir(self, path, attr):
        mode = attr.st_mode & 0o7777 if attr is not None and attr._flags & attr.FLAG_PERMISSIONS else 0o777
        os.mkdir(self.jail.host_path(path, follow=False), mode)
        return SFTP_OK

    @_sftp_errors
    def rmdir(self, path):
        os.rmdir(self.jail.host_path(path, follow=False))
        return SFTP_OK

    @_sftp_errors
    def chattr(self, path, attr):
        _set_attr(self.jail.host_path(path), attr)
        return SFTP_OK

    def canonicalize(self, path):
        return self.jail.jail_path(path)

    @_sftp_errors
    def readlink(self, path):
        return self.jail.to_client(os.readlink(self.jail.host_path(path, follow=False)))

    @_sftp_errors
    def symlink(self, target_path, path):
        link = self.jail.host_path(path, follow=False)
        if target_path.startswith("/"):
            # An absolute target means the sandbox's path: store the host path
            # so commands, which see host paths, follow it to the same place.
            target = os.path.normpath(self.jail.root + self.jail.jail_path(target_path))
            resolved = target
        else:
            target = target_path
            resolved = os.path.normpath(os.path.join(os.path.dirname(link), target))
        self.jail.check(resolved, target_path)
        os.symlink(target, link)
        return SFTP_OK


def _set_attr(host_path: str, attr: paramiko.SFTPAttributes) -> None:
    # paramiko's SFTPServer.set_file_attr truncates to 0 before resizing and
    # applies chown; here size changes keep the data and ownership is ignored.
    if attr._flags & attr.FLAG_PERMISSIONS:
        os.chmod(host_path, attr.st_mode & 0o7777)
    if attr._flags & attr.FLAG_AMTIME:
        os.utime(host_path, (attr.st_atime, attr.st_mtime))
    if attr._flags & attr.FLAG_SIZE:
        os.truncate(host_path, attr.st_size)
