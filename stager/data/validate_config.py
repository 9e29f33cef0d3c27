"""Which data checks run, at which level, with which options.

The YAML shape, under a pipeline's ``data.<name>.validate`` (or a check-settings
file's top-level ``validate:``)::

    validate:
      leakage: error                 # a level: error | warn | off
      labels: {min: 0, max: 9}       # options only: the check keeps its default level
      range: {level: warn, min: 0, max: 255}
      label_column: target           # CSV datasets: the column holding the label
      sample_limit: 20               # sample indices listed per finding

YAML 1.1 reads a bare ``off`` as ``false`` and ``on`` as ``true``: ``false`` means
``off``; ``true`` means the check's default level (``warn`` for a check that is
off by default).  Every mistake is a ``ConfigError`` naming the file, the line,
the dotted field and a hint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stager.errors import ConfigError
from stager.suggest import did_you_mean
from stager.yamlio import YamlDoc

LEVELS = ("error", "warn", "off")

# check -> default level.  Errors stop a run for data that would make training or
# its evaluation wrong; warnings for what is often benign in real datasets.
DEFAULT_LEVELS: dict[str, str] = {
    "files": "error",
    "shapes": "error",
    "finite": "error",
    "range": "error",  # runs only when min or max is given
    "labels": "error",
    "duplicates": "warn",
    "leakage": "error",
    "conflicts": "error",
    "near_duplicates": "off",
    "drift": "warn",  # runs only when the previous manifest's statistics are given
}
CHECKS = tuple(DEFAULT_LEVELS)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _non_negative_number(value: Any) -> bool:
    return _number(value) and value >= 0


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# check -> option -> (is the value acceptable, what is expected, default)
_Option = tuple[Callable[[Any], bool], str, Any]
OPTIONS: dict[str, dict[str, _Option]] = {
    "files": {},
    "shapes": {},
    "finite": {},
    "range": {
        "min": (_number, "a number", None),
        "max": (_number, "a number", None),
    },
    "labels": {
        "num_classes": (_positive_int, "a whole number >= 1", None),
        "min": (_integer, "a whole number", None),
        "max": (_integer, "a whole number", None),
        "max_imbalance": (lambda v: _number(v) and v >= 1, "a number >= 1 (largest class / smallest class)", None),
    },
    "duplicates": {},
    "leakage": {},
    "conflicts": {},
    "near_duplicates": {
        "distance": (lambda v: _integer(v) and 0 <= v <= 16, "a whole number of bits, 0..16", 4),
        "hash": (lambda v: v in ("dhash", "ahash"), "dhash or ahash", "dhash"),
    },
    "drift": {
        "max_mean_shift": (_non_negative_number, "a number of previous standard deviations", 0.5),
        "max_std_ratio": (lambda v: _number(v) and v >= 1, "a number >= 1", 2.0),
        "max_label_tv": (lambda v: _number(v) and 0 <= v <= 1, "a number between 0 and 1", 0.1),
    },
}

# Keys of the validate mapping that are settings, not checks.
SETTINGS = ("label_column", "sample_limit")

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CheckSetting:
    level: str  # error | warn | off
    options: dict = field(default_factory=dict)  # every option of the check, defaults filled in (None: not set)


def default_checks() -> dict[str, CheckSetting]:
    return {
        name: CheckSetting(level, {opt: spec[2] for opt, spec in OPTIONS[name].items()})
        for name, level in DEFAULT_LEVELS.items()
    }


@dataclass(frozen=True)
class ValidationConfig:
    checks: dict[str, CheckSetting] = field(default_factory=default_checks)  # every known check, defaults filled in
    label_column: str = "label"  # CSV: the column holding the label
    sample_limit: int = 20  # sample indices listed per finding
    chunk_bytes: int = DEFAULT_CHUNK_BYTES  # rows read at a time; bounds memory (not settable from YAML)

    def level(self, check: str) -> str:
        return self.checks[check].level

    def option(self, check: str, name: str) -> Any:
        return self.checks[check].options.get(name)

    @classmethod
    def from_mapping(cls, mapping: dict | None, *, doc: YamlDoc | None = None,
                     where: str = "validate") -> ValidationConfig:
        """Settings from the ``validate`` mapping of a YAML file, defaults filled in.

        Raises:
            ConfigError: an unknown check, option or level, or a value of the wrong type,
                located in ``doc`` at ``where.<check>[.<option>]`` when ``doc`` is given.
        """

        def fail(path: str, problem: str, hint: str | None = None) -> ConfigError:
            if doc is not None:
                return doc.error(path, problem, hint)
            return ConfigError(problem, field=path, hint=hint)

        if mapping is None:
            return cls()
        if not isinstance(mapping, dict):
            raise fail(where, f"expected a mapping of checks, got {_describe(mapping)}",
                       "e.g. validate: {labels: {min: 0, max: 9}, leakage: error}")
        checks = default_checks()
        label_column, sample_limit = "label", 20
        for raw_name, value in mapping.items():
            name = str(raw_name)
            path = f"{where}.{name}"
            if name == "label_column":
                if not isinstance(value, str) or not value:
                    raise fail(path, f"expected a column name, got {_describe(value)}", "e.g. label_column: target")
                label_column = value
            elif name == "sample_limit":
                if not _positive_int(value):
                    raise fail(path, f"expected a whole number >= 1, got {_describe(value)}")
                sample_limit = value
            elif name in checks:
                checks[name] = _parse_check(name, value, path, fail)
            else:
                raise fail(path, f"unknown check `{name}`",
                           did_you_mean(name, CHECKS + SETTINGS) or f"known checks: {', '.join(CHECKS)}")
        _check_label_bounds(checks["labels"].options, f"{where}.labels", fail)
        _check_range_bounds(checks["range"].options, f"{where}.range", fail)
        return cls(checks=checks, label_column=label_column, sample_limit=sample_limit)


def _describe(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__}"
    return repr(value)


def _parse_level(name: str, value: Any, path: str, fail) -> str:
    if value is False:  # YAML 1.1: a bare `off` is false
        return "off"
    if value is True:  # ... and `on` is true
        default = DEFAULT_LEVELS[name]
        return default if default != "off" else "warn"
    if isinstance(value, str) and value in LEVELS:
        return value
    hint = did_you_mean(str(value), LEVELS) if isinstance(value, str) else None
    raise fail(path, f"unknown level {_describe(value)}", hint or f"one of: {', '.join(LEVELS)}")


def _parse_check(name: str, value: Any, path: str, fail) -> CheckSetting:
    default = CheckSetting(DEFAULT_LEVELS[name], {opt: spec[2] for opt, spec in OPTIONS[name].items()})
    if not isinstance(value, dict):
        return CheckSetting(_parse_level(name, value, path, fail), default.options)
    level = default.level
    options = dict(default.options)
    known = OPTIONS[name]
    for raw_option, option_value in value.items():
        option = str(raw_option)
        option_path = f"{path}.{option}"
        if option == "level":
            level = _parse_level(name, option_value, option_path, fail)
            continue
        if option not in known:
            names = ("level", *known)
            hint = did_you_mean(option, names) or f"`{name}` takes: {', '.join(names)}"
            raise fail(option_path, f"unknown option `{option}` of check `{name}`", hint)
        accept, expected, _ = known[option]
        if not accept(option_value):
            raise fail(option_path, f"expected {expected}, got {_describe(option_value)}")
        options[option] = option_value
    return CheckSetting(level, options)


def _check_label_bounds(options: dict, path: str, fail) -> None:
    low, high, k = options.get("min"), options.get("max"), options.get("num_classes")
    if k is not None and (low is not None or high is not None):
        raise fail(f"{path}.num_classes", "give num_classes or min/max, not both",
                   "num_classes: 10 means labels 0..9")
    if (low is None) != (high is None):
        missing = "max" if high is None else "min"
        given = "min" if low is not None else "max"
        raise fail(f"{path}.{given}", f"labels needs both min and max ({missing} is missing)",
                   "e.g. labels: {min: 0, max: 9}")
    if low is not None and high is not None and low > high:
        raise fail(f"{path}.min", f"min {low} is above max {high}")


def _check_range_bounds(options: dict, path: str, fail) -> None:
    low, high = options.get("min"), options.get("max")
    if low is not None and high is not None and low > high:
        raise fail(f"{path}.min", f"min {low} is above max {high}")
