"""Checking what the caller passed, and naming classes, before anything is drawn.

A plot that quietly draws the wrong thing (one-hot rows read as labels, logits
read as probabilities, digits named with letters) is worse than an error, so
every public function passes its inputs through here first, and each error
says what to pass instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

_SUM_TOLERANCE = 1e-2  # float16 softmax outputs over 62 classes still pass; logits do not


def as_labels(values: ArrayLike, name: str = "labels") -> np.ndarray:
    """Integer class labels as a 1-D ``int64`` array.

    Accepts a column ``(N, 1)`` and whole-number floats (labels that went
    through a float tensor); rejects one-hot rows and probabilities.
    """
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2:
        raise ValueError(
            f"{name} has shape {array.shape}: it looks one-hot encoded or like probabilities. "
            f"Pass integer class labels instead, e.g. {name}.argmax(axis=1)."
        )
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels; got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.number) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold integer class labels; got values of type {array.dtype}.")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} contains the negative label {array.min()}; class labels start at 0.")
    return array.astype(np.int64)


def as_probabilities(values: ArrayLike, name: str = "probabilities", *, ndim: int = 2) -> np.ndarray:
    """Class probabilities: ``(N, n_classes)`` rows (``ndim=2``) or one row (``ndim=1``).

    A single prediction may come as ``(1, n_classes)``, the shape
    ``model.predict`` returns for one image.
    """
    array = np.asarray(values, dtype=np.float64)
    if ndim == 1 and array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != ndim or array.shape[-1] < 2:
        expected = "(n_classes,)" if ndim == 1 else "(n_images, n_classes)"
        raise ValueError(f"{name} must have shape {expected}; got {array.shape}.")
    sums = array.sum(axis=-1)
    if not (np.all(np.isfinite(array)) and array.min() >= 0
            and np.allclose(sums, 1.0, atol=_SUM_TOLERANCE)):
        raise ValueError(
            f"{name} are not probabilities: each row must be >= 0 and sum to 1 "
            f"(row sums here range from {np.min(sums):.3g} to {np.max(sums):.3g}). If the model "
            "outputs logits, apply a softmax first: keras.ops.softmax(logits) or "
            "torch.softmax(logits, dim=1)."
        )
    return array


def check_same_length(**arrays: Sequence | np.ndarray) -> None:
    """Raise unless every array has one entry per image."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        given = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"Each argument needs one entry per image, but the lengths differ: {given}.")


def class_names_for(class_names: Sequence[str] | None, n_classes: int | None = None,
                    **labels: np.ndarray) -> tuple[str, ...]:
    """The display name of every class, checked against the labels that will be named.

    Parameters
    ----------
    class_names : sequence of str, optional
        One name per class, e.g. ``labkit.data.class_names("emnist-bymerge")``;
        a string such as ``"0123456789"`` names one class per character.
        Without it each class is named by its number.
    n_classes : int, optional
        The number of classes, when it is known from elsewhere (the width of
        a probability array). Otherwise it is ``len(class_names)``, or one more
        than the largest label.
    **labels : ndarray
        Label arrays by argument name, each checked to lie below ``n_classes``.

    Returns
    -------
    tuple of str
        ``names[label]`` is the display name of ``label``.
    """
    if n_classes is None:
        if class_names is not None:
            n_classes = len(class_names)
        else:
            n_classes = 1 + max((int(array.max()) for array in labels.values() if array.size), default=0)
    if class_names is None:
        names = tuple(str(label) for label in range(n_classes))
    else:
        names = tuple(str(name) for name in class_names)
    if len(names) != n_classes:
        raise ValueError(
            f"{len(names)} class names were given for {n_classes} classes; pass the names of the "
            "dataset the model was trained on, e.g. labkit.data.class_names('emnist-bymerge')."
        )
    for argument, array in labels.items():
        if array.size and array.max() >= n_classes:
            raise ValueError(
                f"{argument} contains the label {array.max()}, but there are only {n_classes} classes "
                f"(0..{n_classes - 1}). Pass the class_names of the dataset these labels come from."
            )
    return names


def check_positive_int(value: int, name: str) -> None:
    """Raise unless ``value`` is a count such as ``ncols``, ``top_k`` or ``max_images``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def true_and_predicted(y_true: ArrayLike, y_pred: ArrayLike, class_names: Sequence[str] | None,
                       n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``y_true`` and ``y_pred`` checked as labels of equal length, and the names of their classes."""
    y_true, y_pred = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    check_same_length(y_true=y_true, y_pred=y_pred)
    return y_true, y_pred, class_names_for(class_names, n_classes, y_true=y_true, y_pred=y_pred)
