"""Resolving ``class_path`` and checking init arguments against a signature, before anything is built.

A class section is ``{class_path: pkg.mod.Class, init_args: {...}}`` or just
the string ``pkg.mod.Class``.  Its init arguments are checked against the
class's ``__init__``: unknown names (unless it takes ``**kwargs``), missing
required ones, and values of the wrong plain type.  A value that is itself a
``{class_path: ...}`` mapping is built first and passed in.

Value checks live in ``config_types``.  Not supported: nested classes
(``mod.Outer.Inner``), class sections inside lists in init_args, and
jsonargparse's ``dict_kwargs``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from stager.errors import ConfigError, UsageError
from stager.suggest import did_you_mean
from stager.train.config_overrides import Sources
from stager.train.config_types import (
    Signature,
    check_value,
    describe,
    expected_type,
    mismatch_hint,
    shown,
)

_SPEC_KEYS = {"class_path", "init_args"}
_EMPTY = inspect.Parameter.empty


def is_class_section(value: Any) -> bool:
    return isinstance(value, dict) and "class_path" in value and set(value) <= _SPEC_KEYS


# -- finding the class --------------------------------------------------------


def import_class(path: str, short_modules: tuple[str, ...] = ()) -> type:
    """Import ``pkg.mod.Class``; a bare ``Class`` is looked up in ``short_modules``.

    Raises:
        UsageError: naming what failed (module missing, its own import failing, or
            the attribute missing), ready to be located by the caller.
    """
    if "." not in path:
        for name in short_modules:
            module = importlib.import_module(name)
            if isinstance(getattr(module, path, None), type):
                return getattr(module, path)
        names = {n for m in short_modules for n, v in vars(importlib.import_module(m)).items() if isinstance(v, type)}
        hint = did_you_mean(path, names) or "give the full import path, e.g. mypkg.models.MyModel"
        raise _Unresolved(f"unknown class `{path}`", hint)
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise _Unresolved(
                f"cannot import `{path}`: no module named `{missing}`",
                "check the spelling, that the package is installed, and PYTHONPATH",
            ) from None
        raise _Unresolved(f"importing `{module_name}` failed: {_one_line(exc)}", "the module exists but one of its own imports failed") from None
    except Exception as exc:  # a user module raising while it is imported
        raise _Unresolved(f"importing `{module_name}` failed: {type(exc).__name__}: {_one_line(exc)}", None) from None
    obj = getattr(module, attr, None)
    if obj is None:
        hint = did_you_mean(attr, [n for n in vars(module) if not n.startswith("_")])
        raise _Unresolved(f"module `{module_name}` has no attribute `{attr}`", hint)
    if not isinstance(obj, type):
        raise _Unresolved(f"`{path}` is not a class (it is a {type(obj).__name__} value)", None)
    return obj


class _Unresolved(UsageError):
    def __init__(self, problem: str, hint: str | None) -> None:
        self.problem, self.hint = problem, hint
        super().__init__(problem)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def public_path(cls: type) -> str:
    """The shortest import path that reaches ``cls`` (``stager.train.ModelCheckpoint``)."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


# -- class sections ----------------------------------------------------------


@dataclass
class ClassSpec:
    """A validated class section: the class and its checked init arguments; nothing built yet."""

    cls: type
    args: dict[str, Any]
    field: str  # the section's dotted field, where class_path (or a shorthand key) is written
    args_field: str  # the dotted field holding the init arguments
    signature: Signature = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def class_path(self) -> str:
        return public_path(self.cls)

    def to_dict(self, defaults: bool = False) -> dict[str, Any]:
        """``{class_path, init_args}``; with ``defaults`` also the unset arguments' plain defaults."""
        args: dict[str, Any] = {}
        if defaults:
            for name, p in self.signature.params.items():
                if name in self.args:
                    args[name] = plain(self.args[name])
                elif p.default is not _EMPTY and _yamlable(p.default):
                    args[name] = plain(p.default)
        args.update({k: plain(v) for k, v in self.args.items() if k not in args})
        return {"class_path": self.class_path, "init_args": args} if args else {"class_path": self.class_path}

    def instantiate(self, sources: Sources, **extra: Any) -> Any:
        kwargs = {k: v.instantiate(sources) if isinstance(v, ClassSpec) else v for k, v in self.args.items()}
        kwargs.update(extra)
        try:
            return self.cls(**kwargs)
        except ConfigError:
            raise
        except (UsageError, ValueError, TypeError) as exc:
            raise sources.error(
                self.field, f"{self.cls.__name__} refused its arguments: {_one_line(exc)}"
            ) from exc


def plain(value: Any) -> Any:
    """A value as YAML can write it (resolved-config output)."""
    if isinstance(value, ClassSpec):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _yamlable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_yamlable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _yamlable(v) for k, v in value.items())
    return False


def check_args(
    owner: str,
    signature: Signature,
    args: Any,
    args_field: str,
    sources: Sources,
    supplied: tuple[str, ...] = (),
    unchecked: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Check ``args`` against ``signature``; return them with coercions applied and
    class sections turned into ``ClassSpec``.  ``supplied`` names are filled in by
    stager (an optimizer's ``params``); ``unchecked`` ones the caller checks itself."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise sources.error(args_field, f"expected a mapping of {owner}'s arguments, got {shown(args)}")
    out: dict[str, Any] = {}
    for name, value in args.items():
        where = f"{args_field}.{name}"
        param = signature.params.get(name)
        if name in supplied:
            raise sources.error(where, f"`{name}` of {owner} is filled in by stager", hint="remove it")
        if param is None and not signature.var_keyword:
            known = [n for n in signature.params if n not in supplied]
            hint = did_you_mean(name, known) or ("it takes: " + ", ".join(known) if known else "it takes no arguments")
            raise sources.error(where, f"{owner} has no argument `{name}`", hint=hint)
        if name in unchecked:
            out[name] = value
        elif is_class_section(value):
            annotation = signature.hints.get(name)
            base = annotation if isinstance(annotation, type) and annotation.__module__ != "builtins" else None
            out[name] = class_spec(value, where, sources, base=base)
        elif param is None:
            out[name] = value  # taken by **kwargs: nothing to check against
        else:
            tp = expected_type(signature.hints.get(name, param.annotation), param.default)
            ok, coerced = check_value(value, tp)
            if not ok:
                raise sources.error(
                    where, f"expected {describe(tp)}, got {shown(value)}", hint=mismatch_hint(value, tp)
                )
            out[name] = coerced
    missing = [n for n in signature.required() if n not in args and n not in supplied]
    if missing:
        raise sources.error(
            args_field, f"{owner} needs argument `{missing[0]}`", hint=f"add it under {args_field}"
        )
    return out


def class_spec(
    value: Any,
    where: str,
    sources: Sources,
    base: type | tuple[type, ...] | None = None,
    short_modules: tuple[str, ...] = (),
    supplied: tuple[str, ...] = (),
    what: str = "class",
) -> ClassSpec:
    """Validate a class section written at ``where`` (a mapping or a class-path string)."""
    if isinstance(value, str):
        path, init_args, path_field = value, None, where
    elif isinstance(value, dict):
        extra = [k for k in value if k not in _SPEC_KEYS]
        if extra:
            raise sources.error(
                f"{where}.{extra[0]}",
                f"unknown key `{extra[0]}` in a class section",
                hint="a class section has class_path and init_args; init arguments go under init_args",
            )
        if "class_path" not in value:
            raise sources.error(where, f"no class_path for the {what}", hint=f"add {where}.class_path: pkg.module.Class")
        path, init_args, path_field = value["class_path"], value.get("init_args"), f"{where}.class_path"
    else:
        raise sources.error(where, f"expected a class section {{class_path, init_args}}, got {shown(value)}")
    if not isinstance(path, str) or not path:
        raise sources.error(path_field, f"class_path must be an import path string, got {shown(path)}")
    try:
        cls = import_class(path, short_modules)
    except _Unresolved as exc:
        raise sources.error(path_field, exc.problem, hint=exc.hint) from None
    if base is not None and not issubclass(cls, base):
        names = " or ".join(public_path(b) for b in (base if isinstance(base, tuple) else (base,)))
        raise sources.error(path_field, f"`{path}` is not a subclass of {names}", hint=f"the {what} must derive from {names}")
    signature = Signature.of(cls)
    args_field = f"{where}.init_args"
    args = check_args(cls.__name__, signature, init_args, args_field, sources, supplied=supplied)
    return ClassSpec(cls, args, where, args_field, signature)
