"""PyTorch batches from uint8 image arrays, for the PyTorch lab.

A ``DataLoader`` that reads one example at a time calls ``__getitem__`` 128 times
per batch and then stacks 128 tiny tensors; for 28x28 images that Python overhead
is most of the work. Here a ``BatchSampler`` hands the dataset a whole list of
indices, which becomes one NumPy gather and one tensor conversion per batch: an
epoch of MNIST's training set loads 3 to 10 times faster. PyTorch is imported
only when a loader is built.
"""

from __future__ import annotations

import numpy as np

from labkit.data.adapters import (
    Normalization,
    check_images_and_labels,
    check_positive_int,
    normalization,
)
from labkit.device import as_torch_device, to_device


def to_torch_tensors(images, labels, *, normalize="unit"):
    """The whole split as tensors: float32 images (N, 1, H, W) and int64 labels (N,).

    For small splits that fit in memory as floats (a test set, a quick-profile
    subset), e.g. to evaluate in one call. The images are converted once; int64
    labels are shared with NumPy rather than copied when they are writable.
    """
    images, labels = check_images_and_labels(images, labels)
    return pixels_to_tensor(images, normalization(normalize)), labels_to_tensor(labels)


def to_torch_loader(
    images,
    labels,
    *,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int | None = None,
    normalize="unit",
    device=None,
    augment=None,
    drop_last: bool = False,
    num_workers: int = 0,
) -> BatchLoader:
    """Batches of float32 images (B, 1, H, W) and int64 labels (B,) for a training loop.

    Parameters
    ----------
    images : uint8 array of shape (N, H, W)
        Raw pixels, as :func:`labkit.data.load` returns them; never copied whole.
    labels : integer array of shape (N,)
    batch_size : int
    shuffle : bool
        Visit the examples in a new random order every epoch.
    seed : int, optional
        Makes the sequence of epoch orders repeatable. By default it follows the
        global seed that :func:`labkit.device.setup` sets.
    normalize : "unit", a dataset name or a (mean, std) pair
        See :func:`labkit.data.adapters.normalization`.
    device : DeviceInfo, torch.device or str, optional
        Where to deliver the batches (``info`` from ``labkit.device.setup``).
        By default they stay on the CPU.
    augment : callable, optional
        Applied to each float32 image batch (B, 1, H, W) while pixels are still in
        [0, 1] (the background is 0), before normalisation and on the CPU, e.g.
        ``torchvision.transforms.v2.RandomAffine(degrees=15)``.
    drop_last : bool
        Drop the last, smaller batch.
    num_workers : int
        Worker processes that prepare batches. 0, the default, is fastest unless
        ``augment`` is expensive.

    Returns
    -------
    BatchLoader
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    images, labels = check_images_and_labels(images, labels)
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers={num_workers!r} must be 0 or a positive integer.")

    dataset = ImageBatches(images, labels, normalization(normalize), augment)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    target = None if device is None else as_torch_device(device)
    loader = DataLoader(
        dataset,
        sampler=BatchSampler(order, batch_size, drop_last),
        batch_size=None,  # each item the sampler asks for is already a batch
        collate_fn=_batch_as_is,
        num_workers=num_workers,
        pin_memory=target is not None and target.type == "cuda",
        generator=generator,
    )
    return BatchLoader(loader, batch_size=batch_size, device=target)


class ImageBatches:
    """A map-style dataset indexed by lists of indices: ``batches[[3, 1, 4]]`` is one batch.

    Only the rows of the requested batch are read from ``images``, so a memory-mapped
    dataset stays on disk. (It needs no ``torch.utils.data.Dataset`` base class,
    which keeps this module importable without PyTorch.)
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, pixel_scale: Normalization,
                 augment=None):
        self.images = images
        self.labels = labels
        self.pixel_scale = pixel_scale
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices):
        # Fancy indexing copies just these rows, into fresh writable arrays.
        indices = np.asarray(indices)
        batch = pixels_to_tensor(self.images[indices], self.pixel_scale, self.augment)
        return batch, labels_to_tensor(self.labels[indices])


class BatchLoader:
    """Iterates ``(images, labels)`` batches, each already on ``device``.

    Used like a ``DataLoader``: ``for images, labels in loader``, ``len(loader)``
    (batches per epoch) and ``len(loader.dataset)`` (examples).
    """

    def __init__(self, loader, *, batch_size: int, device=None):
        self.loader = loader
        self.batch_size = batch_size
        self.device = device

    @property
    def dataset(self) -> ImageBatches:
        return self.loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield batch if self.device is None else to_device(batch, self.device)


def pixels_to_tensor(pixels: np.ndarray, pixel_scale: Normalization, augment=None):
    """uint8 pixels (B, H, W) to a normalised float32 tensor (B, 1, H, W).

    The one float32 copy is made by NumPy (which reads a read-only memory map
    without complaint); the tensor shares it, and the arithmetic is in place.
    """
    import torch

    batch = torch.from_numpy(pixels.astype(np.float32)).unsqueeze(1).div_(255.0)
    if augment is not None:
        batch = augment(batch)
    if not pixel_scale.is_unit:
        batch = batch.sub_(pixel_scale.mean).div_(pixel_scale.std)
    return batch


def labels_to_tensor(labels: np.ndarray):
    """Integer labels to an int64 tensor, sharing memory with ``labels`` when it can.

    ``torch.from_numpy`` cannot share a read-only array, so those are copied;
    labels are small.
    """
    import torch

    labels = np.asarray(labels, dtype=np.int64)
    return torch.from_numpy(labels if labels.flags.writeable else labels.copy())


def _batch_as_is(batch):
    """DataLoader's default would turn the (images, labels) tuple into a list."""
    return batch
