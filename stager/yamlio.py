"""Safe YAML loading that remembers where each value was written.

Every stager file (trainer configs, pipelines, recipes) is read through here so
that an error can name the file, the line and the dotted field path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stager.errors import ConfigError


@dataclass
class YamlDoc:
    """A loaded YAML document and the line of every field in it."""

    data: Any
    path: str
    # dotted field path ("trainer.callbacks.0.init_args") -> 1-based line number
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, dotted: str) -> int | None:
        """The line of ``dotted`` or of its nearest written parent."""
        while dotted:
            if dotted in self.lines:
                return self.lines[dotted]
            dotted = dotted.rpartition(".")[0]
        return self.lines.get("")

    def error(self, field_path: str, problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(problem, file=self.path, line=self.line_of(field_path), field=field_path, hint=hint)

    def check_keys(self, mapping: dict, where: str, allowed: tuple[str, ...]) -> None:
        """Refuse the first key of ``mapping`` (written at ``where``) that is not in ``allowed``.

        Raises:
            ConfigError: located at the unknown key, with the closest allowed key as a hint.
        """
        from stager.suggest import did_you_mean

        for key in mapping:
            if key not in allowed:
                dotted = f"{where}.{key}" if where else str(key)
                hint = did_you_mean(str(key), allowed) or "allowed here: " + ", ".join(allowed)
                raise self.error(dotted, f"unknown key `{key}`", hint=hint)


def kind_of(value: Any) -> str:
    """How an error names a value of the wrong type: "a list", "a string ('x')", "nothing"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{prefix}.{key}" if prefix else key
            _walk(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{prefix}.{index}" if prefix else str(index), lines)


def loads(text: str, path: str = "<string>") -> YamlDoc:
    """Parse ``text`` with the safe loader; a syntax error becomes a ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"not valid YAML: {problem}",
            file=path,
            line=mark.line + 1 if mark else None,
            hint="check indentation and quoting",
        ) from None
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return YamlDoc(data=data, path=path, lines=lines)


def load(path: str | Path) -> YamlDoc:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path), hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    return loads(text, str(path))
