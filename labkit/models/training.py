"""The training loop's parts, written once: one epoch of training, a mean loss, predictions.

Every function takes the device to compute on (``info`` from
``labkit.device.setup("torch")``, a ``torch.device`` or a string) and moves
each batch there itself, so the same notebook runs on a CPU and on a GPU. The
model must already be on that device (``model.to(info.torch_device)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from typing import TYPE_CHECKING

import numpy as np

from labkit.device import as_torch_device, to_device

if TYPE_CHECKING:
    import torch

Batches = Iterable[tuple["torch.Tensor", "torch.Tensor"]]


def train_epoch(model: torch.nn.Module, batches: Batches, optimizer: torch.optim.Optimizer, *, device,
                augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                scheduler=None, on_batch: Callable[[float], None] | None = None) -> float:
    """Train ``model`` for one pass over ``batches``; return the mean training loss.

    ``augment`` transforms each batch of images on the device (e.g.
    :class:`labkit.augment.RandomAffine`); ``scheduler`` is stepped after every
    batch (a per-batch schedule such as ``OneCycleLR``); ``on_batch`` receives
    each batch's loss, for live curves.
    """
    from torch.nn import functional as F

    device = as_torch_device(device)
    model.train()
    total, count = 0.0, 0
    for images, labels in batches:
        images, labels = to_device((images, labels), device)
        if augment is not None:
            images = augment(images)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = loss.item()
        if not np.isfinite(value):
            raise FloatingPointError(
                "The training loss became NaN or infinite: the learning rate is too high for this model. "
                "Lower it (or the momentum) and train a new model."
            )
        total, count = total + value * len(labels), count + len(labels)
        if on_batch is not None:
            on_batch(value)
    return total / max(count, 1)


def predict(model: torch.nn.Module, batches: Batches, *, device) -> np.ndarray:
    """Class probabilities (images × classes, float32) for every image of ``batches``, in order.

    The model is switched to evaluation mode (dropout off, batch norm's running
    averages) and left there.
    """
    import torch

    device = as_torch_device(device)
    model.eval()
    with torch.no_grad():
        parts = [torch.softmax(model(to_device(images, device)), dim=1).cpu() for images, _ in batches]
    return torch.cat(parts).numpy()


def mean_loss(model: torch.nn.Module, batches: Batches, *, device) -> float:
    """The mean cross-entropy of ``model`` over ``batches``, in evaluation mode."""
    import torch
    from torch.nn import functional as F

    device = as_torch_device(device)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for images, labels in batches:
            images, labels = to_device((images, labels), device)
            total += F.cross_entropy(model(images), labels, reduction="sum").item()
            count += len(labels)
    return total / max(count, 1)
