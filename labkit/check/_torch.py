"""The PyTorch adapter of ``labkit.check`` (see :mod:`labkit.check.frameworks` for its functions).

Imported only when a torch ``nn.Module`` is checked. Layers are read from a
real forward pass of a zero batch, in the order they run: modules through
forward hooks (a pooling module used twice counts twice), and the functional
calls a ``forward`` makes between them (``F.relu``, ``torch.flatten``,
``x.view(len(x), -1)``, ``F.max_pool2d``) through a ``TorchFunctionMode``
that sees every torch call made outside a module.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from labkit.check.frameworks import PROBABILITY_FLOOR, ForwardError
from labkit.check.spec import Layer, ModelSummary, kind_from_name, pair, padding_name

_BATCH = 2  # zero images per forward pass: enough for every layer, including BatchNorm


def describe(model: nn.Module, input_shape: tuple[int, ...] | None) -> ModelSummary:
    if input_shape is None:
        raise ValueError(
            "A PyTorch model does not record its input shape: pass input_shape=(1, 28, 28) "
            "to the check (channels first, without the batch dimension)."
        )
    zeros = torch.zeros((_BATCH, *input_shape), device=_device(model))
    recorder = _LayerRecorder()
    with _mode(model, training=False), torch.no_grad(), recorder.watching(model):
        try:
            output = model(zeros)
        except Exception as error:  # whatever the student's model raises, it is the finding
            raise ForwardError(
                f"The model cannot process images of shape {tuple(input_shape)}: {error}"
            ) from error
    return ModelSummary(recorder.layers, tuple(input_shape), _shape(output), _count(model))


class _LayerRecorder(TorchFunctionMode):
    """Collects the layers of one forward pass, in the order they finish.

    Leaf modules are seen through forward hooks. Torch calls made while no
    hooked module is running are the ``forward`` method's own functional
    layers; calls made inside a module (``nn.Linear`` calling ``F.linear``)
    are that module's business and are ignored.
    """

    def __init__(self):
        super().__init__()
        self.layers: list[Layer] = []
        self._depth = 0  # how many hooked modules are running right now

    @contextmanager
    def watching(self, model: nn.Module) -> Iterator[None]:
        handles = []
        for name, module in model.named_modules():
            if next(module.children(), None) is None:
                handles.append(module.register_forward_pre_hook(self._enter))
                handles.append(module.register_forward_hook(functools.partial(self._leave, name=name)))
        try:
            with self:
                yield
        finally:
            for handle in handles:
                handle.remove()

    def _enter(self, module: nn.Module, args) -> None:
        self._depth += 1

    def _leave(self, module: nn.Module, args, output, *, name: str) -> None:
        self._depth -= 1
        if self._depth == 0:
            kind, settings = _settings(module)
            self.layers.append(Layer(kind, {**settings, "output_shape": _shape(output),
                                            "params": _count(module)}, name or None))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        if self._depth == 0:
            layer = _functional_layer(func, args, kwargs, output)
            if layer is not None:
                self.layers.append(layer)
        return output


def _settings(module: nn.Module) -> tuple[str, dict]:
    """The module's kind and the settings a spec can check, in the spec's (Keras's) words."""
    if isinstance(module, nn.Linear):
        return "dense", {"units": module.out_features, "activation": None}
    if isinstance(module, nn.Conv2d):
        kernel_size, strides = pair(module.kernel_size), pair(module.stride)
        return "conv2d", {
            "filters": module.out_channels,
            "kernel_size": kernel_size,
            "strides": strides,
            "padding": padding_name(module.padding, kernel_size, strides),
            "activation": None,
        }
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        kind = "maxpool2d" if isinstance(module, nn.MaxPool2d) else "avgpool2d"
        return kind, _pool_settings(module.kernel_size, module.stride, module.padding)
    if isinstance(module, nn.Dropout):
        return "dropout", {"rate": float(module.p)}
    return kind_from_name(type(module).__name__)  # Flatten, BatchNorm2d, ReLU, Softmax, ...


def _pool_settings(kernel_size, stride, padding) -> dict:
    return {
        "pool_size": pair(kernel_size),
        "strides": pair(stride or kernel_size),  # PyTorch's default stride is the window
        "padding": padding_name(padding),
    }


def _functional_layer(func, args: tuple, kwargs: dict, output) -> Layer | None:
    """The layer a functional call in ``forward`` amounts to, or None if it is not one."""
    name = getattr(func, "__name__", "").rstrip("_")  # relu_ is relu, in place
    argument = functools.partial(_argument, args, kwargs)
    facts = {"output_shape": _shape(output), "params": 0}
    if name in ("flatten", "view", "reshape"):
        source = args[0] if args else None
        flattens = (isinstance(source, torch.Tensor) and source.dim() > 2
                    and isinstance(output, torch.Tensor) and output.dim() == 2)
        return Layer("flatten", facts) if flattens else None
    if name in ("max_pool2d", "avg_pool2d"):
        kind = "maxpool2d" if name == "max_pool2d" else "avgpool2d"
        settings = _pool_settings(argument(1, "kernel_size"), argument(2, "stride"),
                                  argument(3, "padding", 0))
        return Layer(kind, {**settings, **facts})
    if name == "dropout":
        return Layer("dropout", {"rate": float(argument(1, "p", 0.5)), **facts})
    kind, settings = kind_from_name(name)
    return Layer(kind, {**settings, **facts}) if kind == "activation" else None


def _argument(args: tuple, kwargs: dict, position: int, name: str, default=None):
    """A call's argument, whether it was passed by position or by name."""
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _shape(output) -> tuple[int, ...] | None:
    if isinstance(output, tuple | list) and output:  # max_pool2d(..., return_indices=True)
        output = output[0]
    return tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def _mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Train or eval mode for a while, then every module's own mode back."""
    modes = {module: module.training for module in model.modules()}
    model.train(training)
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def _inputs(model: nn.Module, x: np.ndarray, y: np.ndarray | None = None):
    device = _device(model)
    images = torch.as_tensor(x, dtype=torch.float32, device=device)
    return images if y is None else (images, torch.as_tensor(y, dtype=torch.int64, device=device))


def _loss(outputs: torch.Tensor, labels: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if from_logits:
        return F.cross_entropy(outputs, labels)
    return F.nll_loss(torch.log(outputs.clamp_min(PROBABILITY_FLOOR)), labels)


def build(model: nn.Module, x: np.ndarray) -> None:
    """Nothing to do: a torch module creates its weights in ``__init__``."""


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with _mode(model, training=False), torch.no_grad():
        return model(_inputs(model, x)).cpu().numpy()


def gradients(model: nn.Module, x: np.ndarray, y: np.ndarray,
              from_logits: bool) -> list[tuple[str, np.ndarray | None]]:
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    images, labels = _inputs(model, x, y)
    with _mode(model, training=False):
        loss = _loss(model(images), labels, from_logits)
    if loss.requires_grad:  # False when the whole graph was cut (torch.no_grad in forward)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    else:
        grads = (None,) * len(named)
    return [(name, None if grad is None else grad.cpu().numpy()) for (name, _), grad in zip(named, grads)]


def frozen(model: nn.Module) -> list[str]:
    """Names of the parameters set ``requires_grad = False``."""
    return [name for name, parameter in model.named_parameters() if not parameter.requires_grad]


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, *, steps: int,
          learning_rate: float, from_logits: bool) -> list[float]:
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate) if parameters else None
    images, labels = _inputs(model, x, y)
    losses = []
    with _mode(model, training=True):
        for _ in range(steps):
            loss = _loss(model(images), labels, from_logits)
            if optimizer is not None and loss.requires_grad:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            losses.append(loss.item())
    return losses


@contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    state = copy.deepcopy(model.state_dict())
    grads = {p: None if p.grad is None else p.grad.clone() for p in model.parameters()}
    try:
        yield
    finally:
        model.load_state_dict(state)
        for parameter, grad in grads.items():
            parameter.grad = grad


def weights(model: nn.Module) -> list[tuple[str, np.ndarray]]:
    return [(name, p.detach().cpu().numpy().copy())
            for name, p in model.named_parameters() if p.requires_grad]


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    target.load_state_dict(source.state_dict())
