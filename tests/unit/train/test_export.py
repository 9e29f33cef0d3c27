"""TorchScript and ONNX export of a stager Module, checked against the module's own outputs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from stager.errors import UsageError
from stager.train.module import Module


class MLP(Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        # Dropout makes train-mode outputs random: matching outputs prove export ran in eval mode.
        self.net = nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Dropout(0.5), nn.Linear(width, 3))
        self.example_input_array = torch.randn(4, 8)

    @property
    def temperature(self) -> float:  # a subclass's own property, used in forward: must still compile
        return 2.0

    def forward(self, x):
        return self.net(x) / self.temperature


class CNN(Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Linear(16, 5)
        self.example_input_array = torch.randn(2, 1, 12, 12)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class TwoInputs(Module):
    """Two tensors in, with a nested stager Module inside."""

    def __init__(self) -> None:
        super().__init__()
        self.image = CNN()
        self.extra = nn.Linear(3, 5)

    def forward(self, image, extra):
        return self.image(image) + self.extra(extra)


def expected(module: nn.Module, *inputs):
    module.eval()
    with torch.no_grad():
        return module(*inputs)


# -- TorchScript ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["script", "trace"])
@pytest.mark.parametrize("make", [MLP, CNN])
def test_torchscript_round_trip(tmp_path, make, method):
    torch.manual_seed(0)
    module = make()
    module.train()
    path = tmp_path / "out" / "model.pt"
    compiled = module.to_torchscript(path, method=method)

    assert isinstance(compiled, torch.jit.ScriptModule)
    assert module.training, "the module's mode is restored"
    assert module._trainer is None and "__jit_unused_properties__" not in vars(type(module))
    x = make().example_input_array  # a fresh input, not the one used to trace
    loaded = torch.jit.load(str(path))
    torch.testing.assert_close(loaded(x), expected(module, x))
    torch.testing.assert_close(compiled(x), expected(module, x))


def test_trace_with_several_inputs_and_nested_modules():
    module = TwoInputs()
    inputs = (torch.randn(2, 1, 12, 12), torch.randn(2, 3))
    traced = module.to_torchscript(method="trace", example_inputs=inputs)
    torch.testing.assert_close(traced(*inputs), expected(module, *inputs))
    scripted = module.to_torchscript()
    torch.testing.assert_close(scripted(*inputs), expected(module, *inputs))


def test_torchscript_does_not_disturb_an_attached_trainer():
    class FakeTrainer:
        current_epoch = 3

    module = MLP()
    module.trainer = FakeTrainer()
    module.to_torchscript()
    assert module.current_epoch == 3 and isinstance(module.trainer, FakeTrainer)


def test_torchscript_errors():
    module = MLP()
    module.example_input_array = None
    with pytest.raises(UsageError, match="example_input_array"):
        module.to_torchscript(method="trace")
    with pytest.raises(UsageError, match="'script' or 'trace'"):
        module.to_torchscript(method="compile")


# -- ONNX -------------------------------------------------------------------------------

needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxscript", "onnxruntime")),
    reason="needs the stager[onnx] extra",
)


def run_onnx(path, *inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {spec.name: x.numpy() for spec, x in zip(session.get_inputs(), inputs)}
    return session, session.run(None, feeds)[0]


@needs_onnx
@pytest.mark.parametrize("make", [MLP, CNN])
def test_onnx_matches_module(tmp_path, make):
    torch.manual_seed(0)
    module = make()
    path = tmp_path / "model.onnx"
    module.to_onnx(path)
    assert module.training
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # weights inside, no sidecar
    x = module.example_input_array
    _, out = run_onnx(path, x)
    np.testing.assert_allclose(out, expected(module, x).numpy(), rtol=1e-4, atol=1e-5)


@needs_onnx
@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
def test_onnx_dynamic_batch(tmp_path, dynamo):
    torch.manual_seed(0)
    module = TwoInputs()
    path = tmp_path / "model.onnx"
    module.to_onnx(path, (torch.randn(3, 1, 12, 12), torch.randn(3, 3)), dynamic_batch=True, dynamo=dynamo)
    for batch in (1, 7):
        inputs = (torch.randn(batch, 1, 12, 12), torch.randn(batch, 3))
        session, out = run_onnx(path, *inputs)
        np.testing.assert_allclose(out, expected(module, *inputs).numpy(), rtol=1e-4, atol=1e-5)
    assert all(isinstance(spec.shape[0], str) for spec in session.get_inputs())


@needs_onnx
def test_onnx_static_batch_by_default(tmp_path):
    module = MLP()
    module.to_onnx(tmp_path / "model.onnx")
    session, _ = run_onnx(tmp_path / "model.onnx", module.example_input_array)
    assert session.get_inputs()[0].shape == [4, 8]


def test_onnx_errors(tmp_path, monkeypatch):
    module = MLP()
    module.example_input_array = None
    with pytest.raises(UsageError, match="input_sample"):
        module.to_onnx(tmp_path / "m.onnx")
    with pytest.raises(UsageError, match="not both"):
        module.to_onnx(tmp_path / "m.onnx", torch.randn(2, 8), dynamic_batch=True, dynamic_shapes=({0: None},))

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a))
    with pytest.raises(UsageError, match=r"onnxscript.*stager\[onnx\]"):
        module.to_onnx(tmp_path / "m.onnx", torch.randn(2, 8))
