"""The ledger's gate for data: plain JSON values only, and nothing that looks like a secret.

The ledger is an audit record people share and keep for years, so it must never
hold a token or a key. Callers redact first; this guard refuses what slipped
through. A value is refused when

- its key looks secret: a word of the key (split at ``_``, ``-``, ``.``, spaces and
  camelCase) is ``token``, ``secret``, ``password``, ``passwd``, ``passphrase``,
  ``authorization`` or ``apikey``, or two neighbouring words are ``private key``,
  ``root pass`` or ``api key`` (so ``LINODE_TOKEN``, ``root_pass``,
  ``aws_secret_access_key``, ``x-api-key`` and ``Authorization`` are refused), and
  the value is not empty, a bool, or a redaction marker (``[REDACTED]``,
  ``<redacted>``, ``***``, ``****1234``) or a ``${ENV}`` reference that only names
  where the secret lives;
- or its text carries a secret whatever the key: a PEM private key block or an
  HTTP ``Bearer``/``Basic`` credential.

Tokenizer settings are not secrets: ``pad_token``, ``eos_token``, ``max_tokens``,
``token_id``, ``tokenizer`` and the like pass.

Not detected: a bare secret under an innocent key (``"note": "ghp_..."``); a
64-hex Linode token cannot be told from a sha256 digest, which the ledger stores
by the thousand.
"""

from __future__ import annotations

import re

__all__ = ["check_data", "is_secret_key"]

_SECRET_WORDS = {"token", "secret", "secrets", "password", "passwords", "passwd", "passphrase", "authorization",
                 "apikey"}
_SECRET_PAIRS = {("private", "key"), ("root", "pass"), ("api", "key")}
# Words around "token" that make it a tokenizer's setting rather than a credential.
_TOKENIZER_BEFORE = {"pad", "bos", "eos", "unk", "sep", "cls", "mask", "special", "start", "end", "stop", "image",
                     "max", "min", "num", "n"}
_TOKENIZER_AFTER = {"id", "ids", "count", "len", "length", "limit", "type", "types", "budget", "index"}

_REDACTED = re.compile(r"\[redacted\]|<redacted>|redacted|\*{3,}[A-Za-z0-9]{0,4}|\$\{[A-Za-z_][A-Za-z0-9_]*\}",
                       re.IGNORECASE)
_SECRET_TEXT = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def _words(key: str) -> list[str]:
    return [w.lower() for w in _WORD_SPLIT.split(key) if w]


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (see the module's rules)."""
    words = _words(key)
    for i, word in enumerate(words):
        if word == "token":
            before = words[i - 1] if i > 0 else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before in _TOKENIZER_BEFORE or after in _TOKENIZER_AFTER:
                continue
            return True
        if word in _SECRET_WORDS:
            return True
        if i > 0 and (words[i - 1], word) in _SECRET_PAIRS:
            return True
    return False


def _is_redacted(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value == "" or _REDACTED.fullmatch(value.strip()) is not None
    if isinstance(value, dict):
        return all(_is_redacted(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_redacted(v) for v in value)
    return False


def check_data(value: object, where: str) -> None:
    """Walk ``value`` and refuse anything that is not plain JSON or that looks secret.

    ``where`` names the value in the error, e.g. ``spec`` gives ``spec.train.api_key``.
    Non-finite floats are accepted (a diverged loss is worth recording as NaN).

    Raises:
        ValueError: naming the path of the first offending value (never the value itself).
    """
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        return
    if isinstance(value, str):
        if _SECRET_TEXT.search(value):
            raise ValueError(f"{where}: the text holds a private key or an HTTP credential; the ledger stores no "
                             "secrets (redact it first)")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_data(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string; the ledger stores plain JSON")
            path = f"{where}.{key}"
            if is_secret_key(key) and not _is_redacted(item):
                raise ValueError(f"{path}: looks like a secret; the ledger stores no secrets (replace the value "
                                 "with '[REDACTED]' before recording it)")
            check_data(item, path)
        return
    raise ValueError(f"{where}: {type(value).__name__} is not plain JSON (use str, int, float, bool, None, list "
                     "or dict)")

