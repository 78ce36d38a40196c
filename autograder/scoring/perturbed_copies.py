"""Perturbed copies of the evaluation images: a classifier survives them, a lookup of exact pixels does not.

The default evaluation images are public. A "model" can be a table of them and
their labels, and score 100% without having learnt to classify anything. So
the sandbox is not given the evaluation images alone: with them come copies of
a sample of them, each moved by a pixel and lightly noised, shuffled in among
the originals. The sandbox gets no labels and never sees the grading run's
secret, which draws the sample, the shifts, the noise and the order, so no
model can know in advance which rows are copies. The accuracy is scored on the
originals, as before; the copies must be classified nearly as well
(:data:`MARGIN`), or the accuracy does not count.

What this catches, measured on the reference models of the quick profile (see
``docs/grading.md``): a lookup keyed on exact pixels loses most of its accuracy
on the copies, while the honest models lose at most about 13 points (lab 1's
dense network; the CNNs 0.4 to 5). What it does *not* catch: a
nearest-neighbour table of the test images is itself a classifier, and loses
fewer points on the copies than the honest dense network. Such a table cannot
have the lab's architecture, so the architecture gate
(:func:`autograder.pipeline.results.gated`) is what stops it; a model of the right
architecture trained on the test images is caught by neither, only by a
private evaluation set (``--evaluation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHIFT = 1
"""Each copy moves by up to this many pixels along each axis (never by none along both)."""
NOISE = 8.0
"""The standard deviation of the Gaussian noise added to each copy, in pixel levels (0-255)."""
COPIES = 2000
"""How many evaluation images get a copy: about a point of sampling error, a fraction of a second per model."""
MARGIN = 0.25
"""How much lower the accuracy on the copies may be than on the originals (0.25: 25 points)."""


@dataclass(frozen=True)
class Rows:
    """What a model is run on: every evaluation image once and a perturbed copy of a sample, shuffled."""

    images: np.ndarray  # uint8 (rows, 28, 28), in the order the sandbox sees them
    labels: np.ndarray  # each row's label, kept by the grader
    copied: np.ndarray  # bool per row: True for a perturbed copy


def shifted(images: np.ndarray, down: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each image moved ``down[i]`` rows and ``right[i]`` columns (negative: up, left), blank where it left."""
    margin = int(max(np.abs(down).max(initial=0), np.abs(right).max(initial=0)))
    padded = np.pad(images, ((0, 0), (margin, margin), (margin, margin)))
    height, width = images.shape[1:]
    rows = (margin - down)[:, None, None] + np.arange(height)[None, :, None]
    columns = (margin - right)[:, None, None] + np.arange(width)[None, None, :]
    return padded[np.arange(len(images))[:, None, None], rows, columns]


def perturbed(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``images`` (uint8) each shifted by up to :data:`SHIFT` pixels and noised (:data:`NOISE`)."""
    offsets = np.array([(down, right) for down in range(-SHIFT, SHIFT + 1) for right in range(-SHIFT, SHIFT + 1)
                        if (down, right) != (0, 0)])
    chosen = offsets[rng.integers(len(offsets), size=len(images))]
    moved = shifted(images, chosen[:, 0], chosen[:, 1]).astype(np.float64)
    noisy = moved + rng.normal(0.0, NOISE, moved.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def with_copies(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None,
                copies: int = COPIES) -> Rows:
    """``images`` and perturbed copies of ``copies`` of them (all, if fewer), shuffled together by ``rng``.

    ``rng`` comes from the grading run's secret; None sends the images alone, in their order.
    """
    labels = np.asarray(labels)
    if rng is None:
        return Rows(images, labels, np.zeros(len(images), dtype=bool))
    sample = rng.choice(len(images), size=min(copies, len(images)), replace=False)
    order = rng.permutation(len(images) + len(sample))
    stacked = np.concatenate([images, perturbed(images[sample], rng)])
    copied = np.arange(len(stacked)) >= len(images)
    return Rows(stacked[order], np.concatenate([labels, labels[sample]])[order], copied[order])


@dataclass(frozen=True)
class Scores:
    """How often a model was right on the evaluation images, and on the perturbed copies."""

    accuracy: float
    on_copies: float | None = None  # None: no copies were sent
    copies: int = 0

    @property
    def generalises(self) -> bool:
        """Whether the copies are classified right within :data:`MARGIN` of the originals."""
        return self.on_copies is None or self.on_copies >= self.accuracy - MARGIN


def scores(correct: np.ndarray, copied: np.ndarray | None) -> Scores:
    """``correct`` (bool per row) summed up over the originals and over the copies (``copied`` rows)."""
    if copied is None or not copied.any():
        return Scores(float(np.mean(correct)))
    return Scores(float(np.mean(correct[~copied])), float(np.mean(correct[copied])), int(np.sum(copied)))
