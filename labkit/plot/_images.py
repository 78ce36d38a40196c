"""A first look at a dataset: a grid of images with their class names."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from labkit.plot._image_grid import as_images, image_grid
from labkit.plot._inputs import as_labels, check_positive_int, check_same_length, class_names_for


def images(images: ArrayLike, labels: ArrayLike | None = None,
           class_names: Sequence[str] | None = None, *, ncols: int = 10, max_images: int = 50,
           title: str | None = None) -> Figure:
    """A grid of images, each titled with the name of its class.

    Parameters
    ----------
    images : array-like
        A batch of images: ``(N, H, W)``, with a channel axis, or flattened.
    labels : array-like of int, optional
        One class label per image; without it the panels have no titles.
    class_names : sequence of str, optional
        Names to show instead of label numbers, e.g.
        ``labkit.data.class_names("emnist-bymerge")``.
    ncols : int
        Images per row.
    max_images : int
        Only the first ``max_images`` images are drawn, so that passing a whole
        training set by mistake does not freeze the notebook.
    title : str, optional
        A title over the grid.

    Returns
    -------
    Figure

    Examples
    --------
    >>> x, y = labkit.data.load("emnist-bymerge", "test")
    >>> labkit.plot.images(x[:30], y[:30], labkit.data.class_names("emnist-bymerge"))
    """
    check_positive_int(max_images, "max_images")
    pictures = as_images(images)
    titles = None
    if labels is not None:
        labels = as_labels(labels)
        check_same_length(images=pictures, labels=labels)
        names = class_names_for(class_names, labels=labels)
        titles = [names[label] for label in labels[:max_images]]
    elif class_names is not None:
        raise ValueError("class_names names the labels, so pass labels as well (or leave both out).")
    return image_grid(pictures[:max_images], titles, ncols=ncols, title=title)
