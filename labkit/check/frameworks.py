"""Which framework a model belongs to, and the adapter that speaks to it.

The checks are written once, against a small set of functions that
``labkit.check._keras`` and ``labkit.check._torch`` both provide:

``describe(model, input_shape) -> ModelSummary``
    the layers a forward pass of a zero batch runs, with output shapes and
    parameter counts (raises :class:`ForwardError` when the model cannot run);
``predict(model, x) -> ndarray``
    the outputs in inference mode;
``gradients(model, x, y, from_logits) -> list[(name, ndarray | None)]``
    the cross-entropy gradient of every trainable parameter (None: unreachable);
``frozen(model) -> list[str]``
    the layers or parameters that are not trainable;
``train(model, x, y, steps, learning_rate, from_logits) -> list[float]``
    Adam on one batch, returning the loss of every step;
``preserved(model)``
    a context manager that puts the weights back as they were;
``weights(model) -> list[(name, ndarray)]``, ``copy_weights(source, target)``, ``build(model, x)``.

The framework is found from the model's class without importing either
framework, so checking a Keras model never loads PyTorch and vice versa.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PROBABILITY_FLOOR = 1e-7
"""Probabilities are clipped to this before their log, by every cross-entropy here, as Keras does."""

# top-level package of a model's class -> adapter module
_ADAPTERS = {"keras": "labkit.check._keras", "torch": "labkit.check._torch"}


class ForwardError(RuntimeError):
    """The model raised while running on a batch; the message says on what shape and why."""


def framework_of(model: object) -> str:
    """``"keras"`` or ``"torch"``, from the classes the model's class derives from."""
    for cls in type(model).__mro__:
        package = cls.__module__.partition(".")[0]
        if package in _ADAPTERS:
            return package
    raise TypeError(
        f"labkit.check works on Keras 3 models and torch.nn.Modules, not on "
        f"{type(model).__module__}.{type(model).__qualname__}; pass the model itself "
        "(not its predictions or its history)."
    )


def adapter_for(model: object) -> ModuleType:
    """The adapter module for ``model``'s framework, imported on first use."""
    return importlib.import_module(_ADAPTERS[framework_of(model)])
