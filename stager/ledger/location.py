"""Where the ledger lives: the SQLite file under ``$STAGER_HOME``, or a PostgreSQL database.

``STAGER_LEDGER_URL=postgresql://user@host:port/db`` moves the *default* ledger
(``$STAGER_HOME/ledger.sqlite``) into PostgreSQL, so every command that opens the
default ledger shares the team's database. A ledger file named explicitly
(``--ledger PATH``) is still that file: an exported or copied ledger stays readable.

The URL's password is never shown: ``redact_url`` replaces it wherever a URL is
named in a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from stager.errors import UsageError

__all__ = ["LEDGER_FILE", "LEDGER_URL_ENV", "existing_ledger", "ledger_exists", "ledger_url", "redact_url",
           "redact_secrets_in"]

LEDGER_FILE = "ledger.sqlite"
LEDGER_URL_ENV = "STAGER_LEDGER_URL"
_SCHEMES = ("postgresql", "postgres")
_MASK = "***"


def _default_path() -> Path:
    from stager.home import stager_home

    return stager_home() / LEDGER_FILE


def ledger_url(path: Path | str | None = None) -> str | None:
    """The PostgreSQL URL the ledger at ``path`` lives at, or None for a SQLite file.

    It is ``$STAGER_LEDGER_URL`` when that is set and ``path`` is None or the default file.

    Raises:
        UsageError: ``STAGER_LEDGER_URL`` is set but is not a postgresql:// URL.
    """
    url = os.environ.get(LEDGER_URL_ENV, "").strip()
    if not url:
        return None
    if path is not None and Path(path).resolve() != _default_path().resolve():
        return None
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES or "://" not in url:
        raise UsageError(f"{LEDGER_URL_ENV}={redact_url(url)!s} is not a PostgreSQL URL; "
                         "use postgresql://user@host:port/database (or unset it for the SQLite file)")
    return url


def ledger_exists(path: Path | str | None = None) -> bool:
    """Whether there is a ledger to read: always, for a database; the file exists, for SQLite.

    Commands that only read use this to avoid creating an empty ledger file.
    """
    if ledger_url(path) is not None:
        return True
    return Path(path if path is not None else _default_path()).exists()


def existing_ledger(given: Path | None, run_id: str) -> Path:
    """The ledger a command that reads run ``run_id`` opens: ``given`` (``--ledger``), else the default.

    Reading never creates a ledger, so a missing one is refused here, before anything opens it.

    Raises:
        UsageError: there is no ledger there yet.
    """
    path = given if given is not None else _default_path()
    if not ledger_exists(path):
        raise UsageError(f"no run {run_id}: there is no ledger at {path} yet")
    return path


def _password(url: str) -> str | None:
    """The URL's password, from its user part or a ``password=`` query parameter."""
    parts = urlsplit(url)
    try:
        if parts.password:
            return parts.password
    except ValueError:  # a malformed port: the netloc is still split at '@' below
        pass
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        return userinfo.split(":", 1)[1] or None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password" and value:
            return value
    return None


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    redacted = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", rf"\1{_MASK}@", url)
    return re.sub(r"([?&]password=)[^&#]*", rf"\1{_MASK}", redacted)


def redact_secrets_in(text: str, url: str) -> str:
    """``text`` (an error message, say) with every appearance of ``url`` or its password masked."""
    text = text.replace(url, redact_url(url))
    password = _password(url)
    if password:
        for form in (password, unquote(password)):  # as written, and as libpq decodes it
            text = text.replace(form, _MASK)
    return text
