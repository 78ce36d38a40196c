"""Real images and labels, and predictions with a known error rate, for the plot tests."""

from __future__ import annotations

import numpy as np

import labkit.data

SIZES = {"mnist": 10, "emnist-bymerge": 47, "emnist-byclass": 62}
"""The datasets the plots are tested on, by class count."""


def load_test_split(name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The first ``n`` images and labels of a dataset's genuine test split, and its class names."""
    images, labels = labkit.data.load(name, "test")
    return np.asarray(images[:n]), np.asarray(labels[:n]), tuple(labkit.data.class_names(name))


def simulated_predictions(y_true: np.ndarray, n_classes: int, error_rate: float,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions wrong for about ``error_rate`` of the images, and softmax probabilities behind them.

    A wrong prediction is a uniformly drawn other class; the probabilities
    peak at the prediction, so ``probabilities.argmax(1) == y_pred``, with
    confidences spread as a trained model's are.
    """
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y_true)) < error_rate
    y_pred = y_true.copy()
    y_pred[wrong] = (y_true[wrong] + rng.integers(1, n_classes, wrong.sum())) % n_classes
    logits = rng.normal(size=(len(y_true), n_classes))
    rows = np.arange(len(y_true))
    logits[rows, y_pred] = logits.max(axis=1) + rng.uniform(0.1, 6.0, len(y_true))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y_pred, probabilities / probabilities.sum(axis=1, keepdims=True)
