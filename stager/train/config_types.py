"""Checking config values against a signature's annotations, with messages a user can act on.

Checks cover None, bool, int, float, str, paths, lists/tuples, dicts,
``Literal`` and unions of those, keeping bool and int apart (``true`` is not a
number, ``1`` is not a flag).  Any other annotation (a class, ``Callable``, an
annotation that cannot be evaluated) accepts any value and leaves the check to
the code that receives it.  An unannotated parameter is judged by a bool, int
or float default.  The only conversion is a numeric string to a float
(YAML 1.1 reads ``1e-3`` as a string).
"""

from __future__ import annotations

import inspect
import os
import pathlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, Union

_UNKNOWN = object()  # an annotation we do not check
_EMPTY = inspect.Parameter.empty


@dataclass
class Signature:
    """The parameters of a callable that a config can pass by name, with their annotations evaluated."""

    params: dict[str, inspect.Parameter]
    hints: dict[str, Any]
    var_keyword: bool

    @classmethod
    def of(cls, target: Callable) -> "Signature":
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):  # builtins without a signature: accept anything
            return cls({}, {}, True)
        params = {
            name: p
            for name, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        var_keyword = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        return cls(params, _hints(target, params), var_keyword)

    def required(self) -> list[str]:
        return [n for n, p in self.params.items() if p.default is _EMPTY]


def _hints(target: Callable, params: dict[str, inspect.Parameter]) -> dict[str, Any]:
    function = target.__init__ if isinstance(target, type) else target
    try:
        return typing.get_type_hints(function)
    except Exception:  # one unresolvable name spoils get_type_hints: evaluate each on its own
        pass
    namespace = getattr(function, "__globals__", {})
    hints = {}
    for name, p in params.items():
        annotation = p.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(vars(typing)), namespace)  # noqa: S307 - the class's own annotation
            except Exception:
                annotation = _UNKNOWN
        hints[name] = annotation
    return hints


def expected_type(annotation: Any, default: Any) -> Any:
    """The annotation to check against; an unannotated parameter is judged by a number or bool default."""
    if annotation is _EMPTY:
        if isinstance(default, (bool, int, float)):
            return type(default)
        return _UNKNOWN
    return annotation


# How a value fits an annotation: it matches, it cannot be checked (left to the class), or not.
_MATCH, _UNCHECKED, _NO = "match", "unchecked", "no"


def check_value(value: Any, tp: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits ``tp``, and the value to use (``"1e-3"`` becomes 0.001 for a float).

    A checkable member of a union wins over one we cannot check, so ``lr: "1e-3"``
    against ``float | Tensor`` becomes a float rather than passing as a string."""
    for coerce in (False, True):
        status, out = _check(value, tp, coerce)
        if status == _MATCH:
            return True, out
    status, out = _check(value, tp, False)
    return status != _NO, out


def _check(value: Any, tp: Any, coerce: bool) -> tuple[str, Any]:
    if tp is _UNKNOWN or tp is Any or isinstance(tp, (str, typing.TypeVar, typing.ForwardRef)):
        return _UNCHECKED, value
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        fallback = _NO
        for member in typing.get_args(tp):
            status, out = _check(value, member, coerce)
            if status == _MATCH:
                return _MATCH, out
            if status == _UNCHECKED:
                fallback = _UNCHECKED
        return fallback, value
    if origin is Literal:
        return _yes(any(type(value) is type(v) and value == v for v in typing.get_args(tp))), value
    if tp is type(None) or tp is None:
        return _yes(value is None), value
    if tp is bool:
        return _yes(isinstance(value, bool)), value
    if tp is int:
        return _yes(isinstance(value, int) and not isinstance(value, bool)), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _MATCH, value
        if coerce and isinstance(value, str):
            try:
                return _MATCH, float(value)
            except ValueError:
                pass
        return _NO, value
    if tp is str:
        return _yes(isinstance(value, str)), value
    if tp in (os.PathLike, pathlib.Path, pathlib.PurePath):
        return _yes(isinstance(value, str)), value
    container = origin or tp
    if container in (list, tuple, set, frozenset, typing.Sequence, typing.List, typing.Tuple):
        return _check_items(value, tp, coerce)
    if container in (dict, typing.Dict, typing.Mapping, typing.MutableMapping):
        if not isinstance(value, dict):
            return _NO, value
        args = typing.get_args(tp)
        if len(args) != 2:
            return _MATCH, value
        checked = {k: _check(v, args[1], coerce) for k, v in value.items()}
        return _combine([st for st, _ in checked.values()]), {k: out for k, (_, out) in checked.items()}
    return _UNCHECKED, value  # a class or construct we leave to the code that receives it


def _yes(ok: bool) -> str:
    return _MATCH if ok else _NO


def _combine(statuses: list[str]) -> str:
    if _NO in statuses:
        return _NO
    return _UNCHECKED if _UNCHECKED in statuses else _MATCH


def _check_items(value: Any, tp: Any, coerce: bool) -> tuple[str, Any]:
    if not isinstance(value, list):
        return _NO, value
    args = typing.get_args(tp)
    if not args:
        return _MATCH, value
    if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
        item_types = [args[0]] * len(value)
    elif len(args) == len(value):  # a fixed-length tuple
        item_types = list(args)
    else:
        return _NO, value
    checked = [_check(v, t, coerce) for v, t in zip(value, item_types)]
    return _combine([st for st, _ in checked]), [out for _, out in checked]


def describe(tp: Any) -> str:
    """``int | None`` -> "an integer or null"."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        words: list[str] = []
        for member in typing.get_args(tp):
            word = describe(member)
            if word not in words:
                words.append(word)
        return " or ".join(words)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    if tp in (os.PathLike, pathlib.Path, pathlib.PurePath):
        return "a path"
    container = origin or tp
    if container in (list, tuple, set, frozenset, typing.Sequence):
        args = {a for a in typing.get_args(tp) if a is not Ellipsis}
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        return f"a list of {plural[next(iter(args))]}" if len(args) == 1 and next(iter(args)) in plural else "a list"
    if container in (dict, typing.Mapping, typing.MutableMapping):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def mismatch_hint(value: Any, tp: Any) -> str | None:
    """A concrete fix for the commonest mix-ups: bool vs int, 5.0 for 5, quoted numbers."""
    want = describe(tp)
    if isinstance(value, bool) and ("integer" in want or "number" in want):
        return "write a number, not true/false"
    if isinstance(value, int) and not isinstance(value, bool) and "true or false" in want:
        return "write true or false"
    if isinstance(value, float) and value.is_integer() and "integer" in want:
        return f"write {int(value)}"
    if isinstance(value, str) and ("integer" in want or "number" in want):
        try:
            float(value)
            return "remove the quotes"
        except ValueError:
            return None
    if isinstance(value, (int, float)) and want in ("a string", "a string or null", "null or a string"):
        return f'quote it: "{value}"'
    if value is None:
        return "this argument cannot be null"
    return None


def shown(value: Any) -> str:
    """A value as the user wrote it in YAML, kept short."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
