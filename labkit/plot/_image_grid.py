"""Drawing images, one or many, whatever layout a framework gave them in."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from labkit.plot._figure import new_figure
from labkit.plot._inputs import check_positive_int
from labkit.plot._style import CMAP_IMAGES, TITLE_SIZE

_LAYOUTS = "(N, H, W), (N, H, W, 1), (N, 1, H, W), (N, H, W, 3) or flattened (N, H*W)"


def as_images(images: ArrayLike, name: str = "images") -> np.ndarray:
    """A batch of images as ``(N, H, W)`` grey levels or ``(N, H, W, 3)`` colour.

    Keras adds a trailing channel axis, PyTorch a leading one and dense models
    flatten each image to a row; all of them are drawn the same way.
    """
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 2 and math.isqrt(array.shape[1]) ** 2 == array.shape[1]:
        side = math.isqrt(array.shape[1])
        array = array.reshape(len(array), side, side)
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
        raise ValueError(f"{name} must be a batch of images shaped {_LAYOUTS}; got shape {np.shape(images)}.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty: there is nothing to draw.")
    return array


def as_image(image: ArrayLike, name: str = "image") -> np.ndarray:
    """One image in any layout :func:`as_images` accepts, without the batch axis."""
    return as_images(np.asarray(image)[np.newaxis], name)[0]


def draw_image(ax: Axes, image: np.ndarray) -> None:
    """Show an image without axes; grey levels dark on white."""
    ax.imshow(image, cmap=CMAP_IMAGES if image.ndim == 2 else None)
    ax.set_axis_off()


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None,
               colors: Sequence[str] | None = None, *, ncols: int, title: str | None = None,
               panel_inches: float = 1.2) -> Figure:
    """A grid with one image per panel, each with an optional coloured title.

    Parameters
    ----------
    images : ndarray
        Images as returned by :func:`as_images`, all of which are drawn.
    titles, colors : sequence of str, optional
        One title and one title colour per image.
    ncols : int
        Panels per row; fewer when there are fewer images.
    title : str, optional
        A title over the whole grid.
    panel_inches : float
        Width of one panel; wider for longer titles.

    Returns
    -------
    Figure
        One axes per image, in order.
    """
    check_positive_int(ncols, "ncols")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    panel_height = panel_inches + (0.2 if titles is not None else 0.0)
    fig = new_figure(ncols * panel_inches, nrows * panel_height + (0.35 if title else 0.0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for index, (ax, image) in enumerate(zip(axes, images)):
        draw_image(ax, image)
        if titles is not None:
            ax.set_title(titles[index], fontsize=TITLE_SIZE,
                         color=colors[index] if colors is not None else "black")
    for ax in axes[len(images):]:
        ax.remove()
    if title:
        fig.suptitle(title)
    return fig
