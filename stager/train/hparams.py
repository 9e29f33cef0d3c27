"""Capturing a constructor's arguments for ``save_hyperparameters``."""

from __future__ import annotations

import inspect
from types import FrameType
from typing import Any


class AttributeDict(dict):
    """A dict whose keys are also attributes: ``self.hparams.lr``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def collect_init_args(frame: FrameType, names: tuple, ignore: list[str] | str | None) -> AttributeDict:
    """The arguments of the ``__init__`` running in ``frame``.

    With ``names`` only those are kept; ``ignore`` drops some (for example a
    backbone module that should not be pickled into every checkpoint).
    """
    # Walk out of super().__init__ chains to the outermost __init__ of the same object.
    self_obj = frame.f_locals.get("self")
    outer = frame
    while (
        outer.f_back is not None
        and outer.f_back.f_code.co_name == "__init__"
        and outer.f_back.f_locals.get("self") is self_obj
    ):
        outer = outer.f_back
    code = outer.f_code
    arg_names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    local_vars = outer.f_locals
    collected: dict[str, Any] = {}
    for name in arg_names:
        if name == "self":
            continue
        collected[name] = local_vars.get(name)
    if code.co_flags & inspect.CO_VARKEYWORDS:
        kwargs_name = code.co_varnames[code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)]
        collected.update(local_vars.get(kwargs_name) or {})
    if names:
        if len(names) == 1 and isinstance(names[0], dict):
            return AttributeDict(names[0])
        collected = {n: collected[n] for n in names if n in collected}
    if isinstance(ignore, str):
        ignore = [ignore]
    for name in ignore or []:
        collected.pop(name, None)
    return AttributeDict(collected)
