"""Which classes the model mixes up: the confusion matrix and its largest entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn import metrics

from labkit.plot._figure import new_figure
from labkit.plot._inputs import check_positive_int, true_and_predicted
from labkit.plot._style import CMAP_MATRIX, fitting_font_size, x_label_rotation

NORMALIZATIONS = {
    None: "count",
    "true": "% of true class",
    "pred": "% of predicted class",
    "all": "% of all images",
}
"""The ``normalize`` options of :func:`sklearn.metrics.confusion_matrix`, and what a cell then holds."""


class ConfusedPair(NamedTuple):
    """How often images of one class were predicted as another."""

    true: str
    """Name of the correct class."""
    predicted: str
    """Name of the class the model predicted instead."""
    count: int
    """How many images of ``true`` were predicted as ``predicted``."""
    rate: float
    """That count as a fraction of all images of ``true``."""


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, class_names: Sequence[str] | None = None,
                     *, normalize: str | None = None, title: str | None = None,
                     matrix: ArrayLike | None = None) -> Figure:
    """The confusion matrix as a heat map: rows are true classes, columns predictions.

    Readable from 10 to 62 classes: the figure and its fonts grow with the
    class count, and numbers are written in the cells only where they fit
    (zero cells stay blank so the mistakes stand out).

    Parameters
    ----------
    y_true, y_pred : array-like of int
        The correct and the predicted class of each image.
    class_names : sequence of str, optional
        One name per class. Pass it whenever some classes may be missing
        from the labels: it fixes the number of rows and columns.
    normalize : {None, "true", "pred", "all"}
        ``None`` shows counts; ``"true"`` shows each row as percentages of its
        true class (each row of a class that occurs sums to 100), which makes
        rare classes as visible as common ones; ``"pred"`` and ``"all"``
        divide by the column or by everything.
    title : str, optional
        Defaults to what the cells hold and the accuracy.
    matrix : array-like, optional
        The matrix to draw instead of the one computed from the labels, such
        as one a student computed: counts, or with ``normalize`` fractions of 1
        (each row of a ``"true"`` matrix summing to 1), drawn as percentages.
        One row and one column per class; the labels still give the title's
        accuracy.

    Returns
    -------
    Figure
        ``fig.axes[0].images[0].get_array()`` holds the matrix as drawn.
    """
    y_true, y_pred, names = true_and_predicted(y_true, y_pred, class_names)
    n = len(names)
    matrix = confusion_values(y_true, y_pred, n, normalize) if matrix is None else given_values(matrix, n, normalize)
    side = float(np.clip(2.0 + 0.3 * n, 5.0, 18.0))  # inches: 5 at 10 classes, 16 at 47, 18 at 62
    matrix_inches = 0.85 * side  # what the tick labels and the colorbar leave to the matrix
    fig = new_figure(side + 1.3, side + 0.6)
    ax = fig.add_subplot()
    vmax = 100.0 if normalize else max(int(matrix.max()), 1)
    image = ax.imshow(matrix, cmap=CMAP_MATRIX, vmin=0, vmax=vmax)
    fig.colorbar(image, ax=ax, shrink=0.8, label=NORMALIZATIONS[normalize])
    _write_cells(ax, matrix, vmax, cell_inches=matrix_inches / n)

    font = fitting_font_size(n, matrix_inches)
    positions = np.arange(n)
    ax.set_xticks(positions, names, fontsize=font, rotation=x_label_rotation(names))
    ax.set_yticks(positions, names, fontsize=font)
    ax.set(xlabel="Predicted class", ylabel="True class")
    accuracy = float(np.mean(y_true == y_pred)) if y_true.size else float("nan")
    ax.set_title(title or f"Confusion matrix ({NORMALIZATIONS[normalize]}), accuracy {accuracy:.1%}")
    return fig


def confusion_values(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                     normalize: str | None = None) -> np.ndarray:
    """The ``n_classes`` x ``n_classes`` matrix of counts, or of percentages when normalised.

    ``labels=range(n_classes)`` keeps a row and a column for every class,
    including classes absent from both arrays, so that row ``i`` is always
    class ``i``. A class that never occurs has a row of zeros, not NaN.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {list(NORMALIZATIONS)}; got {normalize!r}.")
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes), normalize=normalize)
    return matrix * 100.0 if normalize else matrix


def given_values(matrix: ArrayLike, n_classes: int, normalize: str | None = None) -> np.ndarray:
    """A matrix the caller computed, checked to be ``n_classes`` x ``n_classes`` finite numbers, as drawn.

    Normalised matrices are given as fractions of 1 and drawn as percentages,
    as :func:`confusion_values` gives them.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {list(NORMALIZATIONS)}; got {normalize!r}.")
    values = np.asarray(matrix, dtype=float)
    if values.shape != (n_classes, n_classes):
        raise ValueError(f"matrix must have one row and one column per class, shape ({n_classes}, {n_classes}); "
                         f"got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("matrix holds NaN or infinite values; a class with no images has a row of zeros.")
    return values * 100.0 if normalize else values


def most_confused_pairs(y_true: ArrayLike, y_pred: ArrayLike, class_names: Sequence[str] | None = None,
                        k: int = 10) -> list[ConfusedPair]:
    """The ``k`` most frequent mistakes as (true, predicted, count, rate), most frequent first.

    Ties in count are broken by the higher rate, then by class order. On
    EMNIST the top of this list is mostly look-alikes (O/0, l/1, S/5), which
    no architecture can tell apart from the pixels alone.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        The correct and the predicted class of each image.
    class_names : sequence of str, optional
        One name per class.
    k : int
        How many pairs to return at most; only pairs that occur are returned.

    Returns
    -------
    list of ConfusedPair
    """
    check_positive_int(k, "k")
    y_true, y_pred, names = true_and_predicted(y_true, y_pred, class_names)
    counts = confusion_values(y_true, y_pred, len(names))
    support = counts.sum(axis=1)
    np.fill_diagonal(counts, 0)
    true, predicted = np.nonzero(counts)
    count = counts[true, predicted]
    rate = count / support[true]
    order = np.lexsort((predicted, true, -rate, -count))[:k]
    return [ConfusedPair(names[true[i]], names[predicted[i]], int(count[i]), float(rate[i])) for i in order]


def cell_font_size(cell_inches: float, widest_text: int) -> float | None:
    """The font size at which a number of ``widest_text`` digits fits a square cell, or None below 6 pt.

    A digit is about 0.6 em wide, and the number may fill 85 % of the cell;
    text smaller than 6 pt is noise rather than information.
    """
    size = min(9.0, 0.85 * cell_inches * 72.0 / (0.6 * widest_text))
    return size if size >= 6.0 else None


def _write_cells(ax: Axes, matrix: np.ndarray, vmax: float, *, cell_inches: float) -> None:
    """Write each value that does not round to 0 in its cell, dark cells in white, if the values fit."""
    texts = np.vectorize(lambda value: format(value, ".0f"))(matrix)
    size = cell_font_size(cell_inches, max(len(text) for text in texts.ravel()))
    if size is None:
        return
    for (row, column), text in np.ndenumerate(texts):
        if text != "0":
            dark = matrix[row, column] > 0.6 * vmax
            ax.text(column, row, text, ha="center", va="center", fontsize=size,
                    color="white" if dark else "black")
