"""The six networks of lab 5, for 28 × 28 greyscale images, and the loop that trains them.

Each architecture is a variant of a published network, as in the lab's source
(LeNet, AlexNet, VGG, ResNet, SpinalNet, EnsNet), and takes

* ``num_classes`` — 62 for EMNIST ByClass, 10 for MNIST;
* ``width`` — a multiplier on every channel count: ``1.0`` is the source's size
  (what a GPU trains in the course time), smaller values give the same shape of
  network with fewer channels, for CPU budgets.

PyTorch is imported only when a model or the training helpers are first used,
never by ``import labkit`` or ``import labkit.models``; the modules that import it
at the top are named ``_torch_*``, as in :mod:`labkit.check`::

    from labkit import models
    net = models.VGG(num_classes=62, width=0.5).to(info.torch_device)
    net = models.build("resnet", num_classes=62, width=1.0)
"""

from __future__ import annotations

import importlib

ARCHITECTURES: dict[str, str] = {
    "lenet": "labkit.models._torch_lenet:LeNet",
    "alexnet": "labkit.models._torch_alexnet:AlexNet",
    "vgg": "labkit.models._torch_vgg:VGG",
    "resnet": "labkit.models._torch_resnet:ResNet",
    "spinalnet": "labkit.models._torch_spinalnet:SpinalNet",
    "ensnet": "labkit.models._torch_ensnet:EnsNet",
}
"""Architecture name -> ``module:class``: what :func:`build` accepts."""

_EXPORTS = {
    **{path.split(":")[1]: path for path in ARCHITECTURES.values()},
    "BasicBlock": "labkit.models._torch_resnet:BasicBlock",
    "SpinalHead": "labkit.models._torch_spinalnet:SpinalHead",
    "train_epoch": "labkit.models.training:train_epoch",
    "predict": "labkit.models.training:predict",
    "mean_loss": "labkit.models.training:mean_loss",
    "Trial": "labkit.models.search:Trial",
    "sample_settings": "labkit.models.search:sample_settings",
    "SGD_GRID": "labkit.models.search:SGD_GRID",
    "save_state": "labkit.models.files:save_state",
    "load_state": "labkit.models.files:load_state",
}

__all__ = ["ARCHITECTURES", "build", *_EXPORTS]


def build(name: str, *, num_classes: int = 62, width: float = 1.0, **options):
    """A new model of architecture ``name`` (a key of :data:`ARCHITECTURES`).

    ``options`` go to the class, e.g. ``build("vgg", batch_norm=True)``: what a
    grader needs to rebuild a saved model from its record in ``metrics.json``.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}.")
    return _resolve(ARCHITECTURES[name])(num_classes=num_classes, width=width, **options)


def _resolve(path: str):
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


def __getattr__(name: str):
    if name in _EXPORTS:
        return _resolve(_EXPORTS[name])
    raise AttributeError(f"module 'labkit.models' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
