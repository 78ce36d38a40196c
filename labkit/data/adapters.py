"""What the TensorFlow and PyTorch adapters share: input checks and pixel normalisation.

Both adapters take the uint8 arrays that :func:`labkit.data.load` returns, which
may be read-only memory maps, and never convert the whole dataset: they gather one
batch of rows at a time and turn only that batch into float32. Normalising per
batch keeps a 60,000-image training set at 47 MB instead of 188 MB of floats.

A pixel ``p`` becomes ``(p / 255 - mean) / std``. ``"unit"`` (mean 0, std 1) keeps
pixels in [0, 1]; the dataset constants centre them at 0 with unit variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalization:
    """The mean and standard deviation of pixels scaled to [0, 1]."""

    mean: float
    std: float

    def __post_init__(self):
        if not (math.isfinite(self.mean) and math.isfinite(self.std) and self.std > 0):
            raise ValueError(
                f"Normalization(mean={self.mean}, std={self.std}) needs a finite mean "
                "and a positive std, both measured on pixels scaled to [0, 1]."
            )

    @property
    def is_unit(self) -> bool:
        """True when normalising only scales pixels to [0, 1]."""
        return self.mean == 0 and self.std == 1


UNIT = Normalization(0.0, 1.0)

# Measured with compute_normalization on the training images. EMNIST's training
# images are not in the course mirror; its test splits (byclass, bymerge, mnist)
# and training slices all give 0.173-0.175 / 0.331-0.333, so one constant serves
# every split. (The 0.3248 often quoted for EMNIST's std is too small.)
_EMNIST = Normalization(0.1736, 0.3317)
DATASET_NORMALIZATION: dict[str, Normalization] = {
    "mnist": Normalization(0.1307, 0.3081),
    "fashion-mnist": Normalization(0.2860, 0.3530),
    "emnist-byclass": _EMNIST,
    "emnist-bymerge": _EMNIST,
    "emnist-balanced": _EMNIST,
    "emnist-letters": _EMNIST,
    "emnist-digits": _EMNIST,
    "emnist-mnist": _EMNIST,
}


def normalization(spec) -> Normalization:
    """Resolve the ``normalize=`` argument of the adapters.

    Parameters
    ----------
    spec : "unit", a dataset name, a ``(mean, std)`` pair or a Normalization
        ``"unit"`` only scales pixels to [0, 1]; a dataset name such as
        ``"mnist"`` uses that dataset's constants from ``DATASET_NORMALIZATION``.
    """
    if isinstance(spec, Normalization):
        return spec
    if isinstance(spec, str):
        if spec == "unit":
            return UNIT
        if spec in DATASET_NORMALIZATION:
            return DATASET_NORMALIZATION[spec]
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        return Normalization(float(spec[0]), float(spec[1]))
    raise ValueError(
        f"normalize={spec!r} is not understood; use 'unit', a (mean, std) pair, or one "
        f"of the datasets {', '.join(DATASET_NORMALIZATION)}."
    )


def compute_normalization(images: np.ndarray, chunk_size: int = 8192) -> Normalization:
    """Measure the pixel mean and (population) std of uint8 images, in [0, 1] units.

    Reads ``chunk_size`` images at a time and accumulates exact integer sums, so a
    memory-mapped dataset of any size needs only one chunk of memory and the
    result does not depend on the chunking.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.size == 0:
        raise ValueError(
            f"compute_normalization needs a non-empty uint8 image array; got "
            f"{images.dtype} with shape {images.shape}."
        )
    total = total_of_squares = 0
    for start in range(0, len(images), chunk_size):
        chunk = images[start : start + chunk_size].astype(np.uint32)
        total += int(chunk.sum(dtype=np.uint64))
        total_of_squares += int(np.square(chunk).sum(dtype=np.uint64))
    mean = total / images.size
    variance = total_of_squares / images.size - mean**2
    return Normalization(mean=mean / 255, std=math.sqrt(variance) / 255)


def check_images_and_labels(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Return ``images`` and ``labels`` as arrays, without copying, or say what is wrong."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"images must be uint8 pixels of shape (N, height, width), as labkit.data.load "
            f"returns them; got {images.dtype} of shape {images.shape}. Pass the raw images "
            "and let the adapter normalise them (normalize=...)."
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D array of integer class indices; got {labels.dtype} of "
            f"shape {labels.shape}."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images but {len(labels)} labels; pass the images and labels "
            "of the same split."
        )
    if len(images) == 0:
        raise ValueError("images and labels are empty; there is nothing to iterate over.")
    return images, labels


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int if it is a positive integer, else say what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer.")
    return int(value)
