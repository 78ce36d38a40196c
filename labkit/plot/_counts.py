"""How many examples each class has: the first look at an unbalanced dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from labkit.plot._figure import new_figure
from labkit.plot._inputs import as_labels, class_names_for
from labkit.plot._style import CORRECT, fitting_font_size, x_label_rotation


def class_counts(labels: ArrayLike, class_names: Sequence[str] | None = None, *,
                 title: str | None = None) -> Figure:
    """One bar per class, its height the number of examples of that class.

    Parameters
    ----------
    labels : array-like of int
        The class of each example, e.g. a training set's labels.
    class_names : sequence of str, optional
        One name per class; classes without examples still get a (zero) bar.
    title : str, optional
        Defaults to the largest and smallest class and their ratio.

    Returns
    -------
    Figure
        ``fig.axes[0].patches`` are the bars, in class order.

    Examples
    --------
    >>> x, y = labkit.data.load("emnist-bymerge", "test")
    >>> labkit.plot.class_counts(y, labkit.data.class_names("emnist-bymerge"))
    """
    labels = as_labels(labels)
    names = class_names_for(class_names, labels=labels)
    counts = np.bincount(labels, minlength=len(names))
    width = float(np.clip(0.25 * len(names), 5.0, 16.0))
    fig = new_figure(width, 3.5)
    ax = fig.add_subplot()
    ax.bar(np.arange(len(names)), counts, color=CORRECT)
    ax.set_xticks(np.arange(len(names)), names, rotation=x_label_rotation(names),
                  fontsize=fitting_font_size(len(names), 0.9 * width))
    ax.set(xlim=(-0.6, len(names) - 0.4), ylabel="examples")
    ax.set_title(title or _imbalance_title(counts, names))
    return fig


def _imbalance_title(counts: np.ndarray, names: Sequence[str]) -> str:
    largest, smallest = int(np.argmax(counts)), int(np.argmin(counts))
    if counts[smallest] == 0:
        return f"Examples per class (largest {names[largest]!r}: {counts[largest]:,}; {names[smallest]!r} has none)"
    return (f"Examples per class: {names[largest]!r} has {counts[largest]:,}, {names[smallest]!r} "
            f"{counts[smallest]:,} ({counts[largest] / counts[smallest]:.0f}x fewer)")
