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
    # A save_hyperparameters() in a base class's __init__ also records the
    # arguments of the subclasses' __init__ frames that called it.
    self_obj = frame.f_locals.get("self")
    chain = [frame]
    while (
        chain[-1].f_back is not None
        and chain[-1].f_back.f_code.co_name == "__init__"
        and chain[-1].f_back.f_locals.get("self") is self_obj
    ):
        chain.append(chain[-1].f_back)
    collected: dict[str, Any] = {}
    for init_frame in reversed(chain):  # outermost first; inner frames hold the resolved values
        collected.update(_frame_args(init_frame))
    if names:
        if len(names) == 1 and isinstance(names[0], dict):
            return AttributeDict(names[0])
        collected = {n: collected[n] for n in names if n in collected}
    if isinstance(ignore, str):
        ignore = [ignore]
    for name in ignore or []:
        collected.pop(name, None)
    return AttributeDict(collected)


def _frame_args(frame: FrameType) -> dict[str, Any]:
    code = frame.f_code
    named = code.co_argcount + code.co_kwonlyargcount
    local_vars = frame.f_locals
    args = {name: local_vars.get(name) for name in code.co_varnames[:named] if name != "self"}
    if code.co_flags & inspect.CO_VARKEYWORDS:
        kwargs_name = code.co_varnames[named + bool(code.co_flags & inspect.CO_VARARGS)]
        args.update(local_vars.get(kwargs_name) or {})
    return args
