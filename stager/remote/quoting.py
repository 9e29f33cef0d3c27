"""Every command line stager sends to an instance is built here.

Remote commands are strings that a POSIX shell parses (sshd runs them with the
login shell's ``-c``), so every value that comes from outside stager's own code
(paths, names, user commands passed as data) goes through `quote`. Relative paths
are relative to the login user's home, where every command starts.

Not supported: tilde expansion (``~/x`` is quoted and stays literal: use a
relative path), NUL characters (no shell argument can hold one) and bytes paths.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping

__all__ = ["command", "in_dir", "quote", "with_env"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(arg: str | os.PathLike | int) -> str:
    """``arg`` as one shell word: single-quoted unless it is plainly safe (shlex.quote).

    Integers are accepted for pids and counts.

    Raises:
        TypeError: ``arg`` is bytes, a bytes path, a bool or another type.
        ValueError: ``arg`` holds a NUL character.
    """
    if isinstance(arg, bool):
        raise TypeError("quote() takes a string, a path or an int, not a bool")
    if isinstance(arg, int):
        return str(arg)
    text = os.fspath(arg)
    if not isinstance(text, str):
        raise TypeError("quote() does not take bytes or bytes paths")
    if "\0" in text:
        raise ValueError("a shell argument cannot contain a NUL character")
    return shlex.quote(text)


def command(*argv: str | os.PathLike | int) -> str:
    """A command line running ``argv`` exactly as given: every word quoted.

    Raises:
        ValueError: no words, or a word holds a NUL character.
        TypeError: a word of an unsupported type (see `quote`).
    """
    if not argv:
        raise ValueError("command() needs at least the program name")
    return " ".join(quote(arg) for arg in argv)


def with_env(env: Mapping[str, str], cmd: str) -> str:
    """``cmd`` run with the variables of ``env`` set: ``export K='v' K2='v2' && cmd``.

    ``export`` rather than a ``K=v cmd`` prefix because a prefix reaches only
    the first simple command, and ``cmd`` is often ``a && b`` or a pipeline.
    The variables stay set for anything the caller appends after ``cmd`` in
    the same command line. An empty ``env`` gives ``cmd`` unchanged.

    Raises:
        ValueError: a name is not a shell identifier (letters, digits, ``_``,
            not starting with a digit), or a value holds a NUL character.
    """
    if not env:
        return cmd
    assignments = []
    for name in sorted(env):
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"environment variable name {name!r} is not a shell identifier")
        assignments.append(f"{name}={quote(str(env[name]))}")
    return f"export {' '.join(assignments)} && {cmd}"


def in_dir(path: str | os.PathLike, cmd: str) -> str:
    """``cmd`` run in directory ``path``, and not at all when it cannot change there.

    ``cmd`` should be one and-or list (``a && b | c``): in ``a; b`` only ``a``
    depends on the ``cd``, as the shell parses it.

    Raises:
        ValueError, TypeError: as `quote` for ``path``.
    """
    return f"cd -- {quote(path)} && {cmd}"

