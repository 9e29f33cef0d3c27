"""``${VAR}`` references in a pipeline, and keeping secrets out of what stager writes down.

Any string value of a pipeline (never a key) may refer to the environment:

    bucket: ${STAGER_BUCKET}                 # the variable must be set (an empty value counts as set)
    prefix: ${DATA_PREFIX:-datasets}         # the default when the variable is unset or empty
    nodes: ${NODES:-1}                       # a value that is only a reference takes the type it reads as
    url: https://${HOST}/x                   # a reference inside longer text is text
    note: costs $${HOURS} hours              # `$${` writes a literal `${`

A value that is exactly one reference becomes a whole number, a decimal number
or a boolean (``true``/``false``) when its text reads as one, like a value
written in the file; anything else stays text. Not supported: nested references,
a ``}`` inside a default, shell forms other than ``:-`` (``${VAR-x}``,
``${VAR:?msg}``, ``$VAR`` without braces: a lone ``$`` is kept as written).

A value is secret when it came from a variable whose name looks secret
(``LINODE_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``...) or sits under a
key that does (``api_key:``, ``token:``). `redact` replaces such values with
``"<redacted>"`` before a spec is written to a run folder or the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stager.yamlio import YamlDoc

__all__ = ["REDACTED", "Substituted", "looks_secret", "redact", "scrub", "substitute"]

REDACTED = "<redacted>"

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^{}]*)\}|\$\{")
_BODY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$", re.S)
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$")
_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# A name holding one of these anywhere is secret ("MYTOKEN", "dbPassword")...
_SECRET_PARTS = ("token", "secret", "passw", "passphrase", "apikey", "credential", "privatekey", "accesskey")
# ... and one of these as a whole word ("SSH_KEY" but not "MONKEY"; "AUTH" but not "AUTHOR").
_SECRET_WORDS = frozenset({"key", "pwd", "auth", "authorization", "cookie", "private", "signature"})
# A secret shorter than this is not looked for inside other text: it would match too much.
_MIN_SWEPT_LENGTH = 4


def looks_secret(name: str) -> bool:
    """Whether a variable or key called ``name`` probably holds a secret.

    Deliberately generous: writing ``<redacted>`` for a harmless value costs
    little; writing a token into a run folder is a leak.
    """
    lowered = name.lower()
    if any(part in lowered.replace("_", "").replace("-", "") for part in _SECRET_PARTS):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORDS.split(name) if word)


@dataclass(frozen=True)
class Substituted:
    """A document's data with every reference resolved, and where references were."""

    data: Any  # the data, references replaced
    # dotted field -> the names of the variables its value referred to
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # dotted field -> the text a whole-value reference resolved to (before it took a number's or boolean's type)
    texts: dict[str, str] = field(default_factory=dict)

    def secret_fields(self) -> frozenset[str]:
        """The fields whose value came from a variable that looks secret."""
        return frozenset(path for path, names in self.references.items() if any(looks_secret(n) for n in names))

    def secret_values(self, environ: Mapping[str, str]) -> frozenset[str]:
        """The values of the secret-looking variables that were referred to (for `redact` and `scrub`)."""
        names = {n for names in self.references.values() for n in names if looks_secret(n)}
        return frozenset(environ[n] for n in names if environ.get(n))


def substitute(doc: YamlDoc, environ: Mapping[str, str]) -> Substituted:
    """Resolve every ``${VAR}`` in the string values of ``doc`` from ``environ``.

    Raises:
        ConfigError: a referenced variable is unset and has no default, or a
            ``${`` does not start a well-formed reference; located at the value's
            field in ``doc``.
    """
    references: dict[str, tuple[str, ...]] = {}
    texts: dict[str, str] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        try:
            text, names, whole = _expand(value, environ)
        except _BadReference as exc:
            raise doc.error(path, exc.problem, exc.hint) from None
        if names:
            references[path] = names
        if whole:
            texts[path] = text
            return _typed(text)
        return text

    return Substituted(walk(doc.data, ""), references, texts)


class _BadReference(Exception):
    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem, self.hint = problem, hint


def _expand(text: str, environ: Mapping[str, str]) -> tuple[str, tuple[str, ...], bool]:
    """``text`` with its references resolved, the variables named, and whether it was one reference alone."""
    out: list[str] = []
    names: list[str] = []
    position = 0
    whole = False
    for match in _TOKEN.finditer(text):
        out.append(text[position:match.start()])
        position = match.end()
        if match.group(0) == "$${":
            out.append("${")
            continue
        body = match.group("body")
        if body is None:
            raise _BadReference("`${` without a closing `}`",
                                "write ${NAME} or ${NAME:-default}; $${ writes a literal ${")
        parsed = _BODY.match(body)
        if parsed is None:
            raise _BadReference(f"`${{{body}}}` is not a variable reference",
                                "write ${NAME} or ${NAME:-default} (NAME: letters, digits and _); "
                                "$${ writes a literal ${")
        name, default = parsed["name"], parsed["default"]
        names.append(name)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise _BadReference(f"environment variable {name} is not set",
                                    f"set it, or give a default: ${{{name}:-...}}")
            value = default
        out.append(value)
        whole = match.start() == 0 and match.end() == len(text)
    out.append(text[position:])
    return "".join(out), tuple(dict.fromkeys(names)), whole


def _typed(text: str) -> Any:
    """What a value that was one reference becomes: a number or boolean when it reads as one, else text."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text)
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    return text


def redact(data: Any, *, secret_fields: Iterable[str] = (), secret_values: Iterable[str] = (),
           path: str = "") -> Any:
    """A copy of ``data`` with secrets replaced by ``"<redacted>"``.

    Redacted: the value at any of ``secret_fields`` (dotted paths, with everything
    under them), any value under a key that `looks_secret`, and any string that
    contains one of ``secret_values`` (4 characters or more) wherever it ended up.
    Empty values (None, "") are kept: they hold nothing to hide.
    """
    fields = frozenset(secret_fields)
    values = tuple(v for v in secret_values if len(v) >= _MIN_SWEPT_LENGTH)
    return _redact(data, path, fields, values, secret_key=False)


def _redact(value: Any, path: str, fields: frozenset[str], values: tuple[str, ...], secret_key: bool) -> Any:
    if value is None or value == "":
        return value
    if secret_key or path in fields:
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact(v, f"{path}.{k}" if path else str(k), fields, values, looks_secret(str(k)))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, f"{path}.{i}" if path else str(i), fields, values, False) for i, v in enumerate(value)]
    if isinstance(value, str) and any(secret in value for secret in values):
        return REDACTED
    return value


def scrub(text: str | None, secret_values: Iterable[str]) -> str | None:
    """``text`` with every occurrence of a secret value replaced by ``<redacted>`` (for error messages)."""
    if not text:
        return text
    for secret in sorted(secret_values, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
