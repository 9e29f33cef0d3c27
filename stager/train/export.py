"""Exporting a ``Module`` for serving: TorchScript and ONNX (``Module.to_torchscript`` / ``to_onnx``).

Input samples follow Lightning: a tensor is the single positional input, a
tuple holds several positional inputs, a dict holds keyword inputs; tensors in
it are moved to the module's device.  The module is exported in eval mode and
put back in the mode it was in.

ONNX uses the ``torch.export``-based exporter (``dynamo=True``), the default
and only non-deprecated exporter since torch 2.9; it runs offline and needs
``onnx`` and ``onnxscript`` (the ``stager[onnx]`` extra).  ``dynamo=False``
selects the legacy TorchScript exporter.  TorchScript itself is deprecated by
torch (``torch.jit.script``/``trace`` warn); it still works and is kept for
Lightning parity.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import itertools
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from stager.errors import UsageError

# Above this the ONNX protobuf cannot hold the weights; they go to a sidecar file.
_ONNX_SINGLE_FILE_LIMIT = 2 * 1024**3 - 64 * 1024**2


def to_torchscript(
    module: nn.Module,
    file_path: str | Path | None = None,
    method: str = "script",
    example_inputs: Any = None,
    **kwargs: Any,
) -> torch.jit.ScriptModule:
    """Compile ``module`` with ``torch.jit.script`` or ``torch.jit.trace``; save it
    with ``torch.jit.save`` when ``file_path`` is given; return the ScriptModule.

    ``trace`` runs ``example_inputs`` (default ``module.example_input_array``)
    through the module; ``kwargs`` go to ``torch.jit.script`` / ``trace``.
    """
    if method not in ("script", "trace"):
        raise UsageError(f"to_torchscript: method must be 'script' or 'trace', got {method!r}")
    with _eval_mode(module), jit_ready(module):
        if method == "script":
            compiled = torch.jit.script(module, **kwargs)
        else:
            sample = to_module_device(_input_sample(module, example_inputs, "example_inputs", "to_torchscript"), module)
            if isinstance(sample, dict):
                compiled = torch.jit.trace(module, example_kwarg_inputs=sample, **kwargs)
            else:
                compiled = torch.jit.trace(module, example_inputs=sample, **kwargs)
    if file_path is not None:
        Path(file_path).parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(compiled, str(file_path))
    return compiled


def to_onnx(
    module: nn.Module,
    file_path: str | Path,
    input_sample: Any = None,
    *,
    dynamic_batch: bool = False,
    **kwargs: Any,
) -> None:
    """Write ``module`` to ``file_path`` as ONNX with ``torch.onnx.export``.

    ``input_sample`` defaults to ``module.example_input_array``.  ``dynamic_batch``
    makes dimension 0 of every tensor input (and output) a symbolic ``batch``
    axis; for other dynamic axes pass ``dynamic_shapes`` (or the legacy
    ``dynamic_axes``) yourself.  Other ``kwargs`` go to ``torch.onnx.export``;
    by default progress output is off and weights are kept inside the one file
    unless they exceed protobuf's 2 GiB limit (``external_data``).
    """
    sample = to_module_device(_input_sample(module, input_sample, "input_sample", "to_onnx"), module)
    if isinstance(sample, dict):
        args, kw_inputs = (), sample
    else:
        args, kw_inputs = (sample if isinstance(sample, tuple) else (sample,)), {}
    accepted = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in accepted:
        kwargs.setdefault("dynamo", True)
    dynamo = bool(kwargs.get("dynamo"))
    _require_onnx(dynamo)
    if "external_data" in accepted:
        kwargs.setdefault("external_data", _weights_bytes(module) > _ONNX_SINGLE_FILE_LIMIT)
    kwargs.setdefault("verbose", False)
    if dynamic_batch:
        if "dynamic_shapes" in kwargs or "dynamic_axes" in kwargs:
            raise UsageError("to_onnx: give dynamic_batch=True or dynamic_shapes/dynamic_axes, not both")
        with _eval_mode(module), jit_ready(module):
            kwargs.update(_batch_axes(module, args, kw_inputs, dynamo, kwargs))
    if kw_inputs:
        kwargs["kwargs"] = kw_inputs
    Path(file_path).parent.mkdir(parents=True, exist_ok=True)
    with _eval_mode(module), jit_ready(module):
        torch.onnx.export(module, args, str(file_path), **kwargs)


# -- input samples ------------------------------------------------------------


def _input_sample(module: nn.Module, given: Any, arg_name: str, caller: str) -> Any:
    sample = given if given is not None else getattr(module, "example_input_array", None)
    if sample is None:
        raise UsageError(
            f"{caller} needs an input sample: pass {arg_name}=... or set `self.example_input_array` in the module"
        )
    return sample


def to_module_device(data: Any, module: nn.Module) -> Any:
    """``data`` (tensor, or tuple/list/dict of them) on the device of ``module``'s first parameter."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        return _move(data, tensor.device)
    return data


def _move(data: Any, device: torch.device) -> Any:
    if isinstance(data, torch.Tensor):
        return data.to(device)
    if isinstance(data, dict):
        return {k: _move(v, device) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_move(v, device) for v in data)
    return data


# -- ONNX details ---------------------------------------------------------------


def _require_onnx(dynamo: bool) -> None:
    needed = ["onnx", "onnxscript"] if dynamo else ["onnx"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"to_onnx needs {', '.join(missing)}; install them with: pip install 'stager[onnx]'")


def _weights_bytes(module: nn.Module) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _batch_axes(module: nn.Module, args: tuple, kw_inputs: dict, dynamo: bool, kwargs: dict) -> dict[str, Any]:
    """The export keywords that make dimension 0 of each tensor input symbolic."""
    if dynamo:
        # One shared Dim: all inputs must agree on the batch size, which is what a batch is.
        batch = torch.export.Dim("batch")

        def spec(x: Any) -> dict | None:
            return {0: batch} if isinstance(x, torch.Tensor) and x.dim() > 0 else None

        if kw_inputs:
            return {"dynamic_shapes": {k: spec(v) for k, v in kw_inputs.items()}}
        return {"dynamic_shapes": tuple(spec(a) for a in args)}
    # The legacy exporter names axes by input/output name, so both need names;
    # one forward pass tells how many outputs there are.
    if kw_inputs:
        raise UsageError("to_onnx: dynamic_batch with keyword inputs needs the default exporter (dynamo=True)")
    input_names = kwargs.setdefault("input_names", [f"input_{i}" for i in range(len(args))])
    with torch.no_grad():
        outputs = module(*args)
    n_out = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    output_names = kwargs.setdefault("output_names", [f"output_{i}" for i in range(n_out)])
    return {"dynamic_axes": {name: {0: "batch"} for name in [*input_names, *output_names]}}


# -- making a stager Module compilable ------------------------------------------


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class _NoTrainer:
    """Stands in for a missing trainer while compiling: falsy, so the module's
    trainer-backed properties (``current_epoch``, ``logger``, ...) read their defaults."""

    def __bool__(self) -> bool:
        return False


@contextlib.contextmanager
def jit_ready(module: nn.Module) -> Iterator[None]:
    """Let ``torch.jit`` (script, trace, ``add_graph``, legacy ONNX) walk a stager ``Module``.

    TorchScript reads every attribute of a module's class and compiles every
    property.  Two stager ``Module`` properties break that: ``trainer`` raises
    when no trainer is attached, and properties such as ``hparams`` or
    ``device`` cannot be compiled.  For the duration, modules without a trainer
    get a falsy stand-in and the base class's properties are declared unused
    (``__jit_unused_properties__``); a subclass's own properties still compile.
    Both are undone on exit.  Not thread-safe: it edits classes while active.
    """
    from stager.train.module import Module

    base_props = [n for n, v in vars(Module).items() if isinstance(v, property)]
    stand_ins: list[nn.Module] = []
    classes: dict[type, Any] = {}
    _missing = object()
    try:
        for sub in module.modules():
            if not isinstance(sub, Module):
                continue
            if sub._trainer is None:
                object.__setattr__(sub, "_trainer", _NoTrainer())
                stand_ins.append(sub)
            cls = type(sub)
            if cls not in classes:
                classes[cls] = vars(cls).get("__jit_unused_properties__", _missing)
                inherited = list(getattr(cls, "__jit_unused_properties__", []))
                cls.__jit_unused_properties__ = inherited + [p for p in base_props if p not in inherited]
        yield
    finally:
        for sub in stand_ins:
            object.__setattr__(sub, "_trainer", None)
        for cls, original in classes.items():
            if original is _missing:
                del cls.__jit_unused_properties__
            else:
                cls.__jit_unused_properties__ = original
