"""Numeric precision: one small object per mode, chosen from Lightning's names.

| name                      | what it does                                                  |
|---------------------------|---------------------------------------------------------------|
| "32-true" (32)            | float32 everywhere                                            |
| "64-true" (64)            | float64 parameters and floating inputs                        |
| "16-mixed" (16)           | float16 autocast and a gradient scaler                        |
| "bf16-mixed" ("bf16")     | bfloat16 autocast, no scaler needed                           |
| "bf16-true" / "16-true"   | parameters and floating inputs in bfloat16 / float16          |
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from stager.errors import UsageError

_ALIASES = {
    "32": "32-true",
    "32-true": "32-true",
    "64": "64-true",
    "64-true": "64-true",
    "16": "16-mixed",
    "16-mixed": "16-mixed",
    "bf16": "bf16-mixed",
    "bf16-mixed": "bf16-mixed",
    "bf16-true": "bf16-true",
    "16-true": "16-true",
}


def normalize_precision(value: Any) -> str:
    key = str(value)
    if key not in _ALIASES:
        raise UsageError(
            f"unknown precision {value!r}; use one of 32-true, 16-mixed, bf16-mixed, bf16-true, 16-true, 64-true"
        )
    return _ALIASES[key]


def _cast_floats(data: Any, dtype: torch.dtype) -> Any:
    if isinstance(data, torch.Tensor):
        return data.to(dtype) if data.is_floating_point() else data
    if isinstance(data, (list, tuple)):
        cast = [_cast_floats(item, dtype) for item in data]
        return type(data)(cast) if not hasattr(data, "_fields") else type(data)(*cast)
    if isinstance(data, dict):
        return {key: _cast_floats(value, dtype) for key, value in data.items()}
    return data


class Precision:
    """Full float32: the reference every other mode is measured against."""

    name = "32-true"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.scaler: torch.amp.GradScaler | None = None

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def convert_input(self, batch: Any) -> Any:
        return batch

    def autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Make gradients true-sized before clipping (a no-op without a scaler)."""

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class MixedPrecision(Precision):
    """Autocast to float16 or bfloat16; float16 also scales the loss."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        super().__init__(device)
        self.name = "16-mixed" if dtype == torch.float16 else "bf16-mixed"
        self.dtype = dtype
        if dtype == torch.float16:
            self.scaler = torch.amp.GradScaler(device.type)
        self._unscaled: set[int] = set()

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None and id(optimizer) not in self._unscaled:
            self.scaler.unscale_(optimizer)
            self._unscaled.add(id(optimizer))

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        # The scaler skips the step when gradients overflowed, then adapts its scale.
        self.scaler.step(optimizer)
        self.scaler.update()
        self._unscaled.discard(id(optimizer))

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


class TruePrecision(Precision):
    """Parameters and floating inputs in one dtype (float64, bfloat16 or float16)."""

    def __init__(self, device: torch.device, dtype: torch.dtype, name: str) -> None:
        super().__init__(device)
        self.dtype = dtype
        self.name = name

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self.dtype)

    def convert_input(self, batch: Any) -> Any:
        return _cast_floats(batch, self.dtype)


def make_precision(value: Any, device: torch.device) -> Precision:
    name = normalize_precision(value)
    if name == "32-true":
        return Precision(device)
    if name == "16-mixed":
        return MixedPrecision(device, torch.float16)
    if name == "bf16-mixed":
        return MixedPrecision(device, torch.bfloat16)
    if name == "bf16-true":
        return TruePrecision(device, torch.bfloat16, name)
    if name == "16-true":
        return TruePrecision(device, torch.float16, name)
    return TruePrecision(device, torch.float64, name)
