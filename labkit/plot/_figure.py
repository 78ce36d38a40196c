"""Figures that belong to nobody: no pyplot, no window, no global figure list.

``pyplot`` keeps every figure it creates until it is closed, so a long
notebook that plots in a loop slowly fills memory, and a figure may show up
twice (once returned, once flushed by the inline backend). A bare
:class:`matplotlib.figure.Figure` has neither problem, and is garbage
collected like any object once the notebook drops it.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class NotebookFigure(Figure):
    """A figure that shows itself as PNG when it is the value of a notebook cell.

    IPython renders a bare ``Figure`` as PNG only after pyplot's inline backend
    has been loaded; before that it prints ``<Figure size ...>``. The
    ``_repr_png_`` hook is IPython's own rich-display protocol, so the figure
    displays whether or not pyplot was ever imported. When the inline backend
    is loaded, its formatter takes precedence and this hook is unused.
    """

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG, for notebook display and for logging."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def new_figure(width: float, height: float) -> NotebookFigure:
    """An empty figure of ``width`` x ``height`` inches with constrained layout.

    Constrained layout keeps titles, tick labels and colorbars from
    overlapping without the per-plot ``tight_layout`` calls the seed notebooks
    needed.
    """
    return NotebookFigure(figsize=(width, height), layout="constrained")


def message_figure(message: str) -> NotebookFigure:
    """A small figure that only says something, for when there is nothing to plot."""
    fig = new_figure(5.0, 1.0)
    fig.text(0.5, 0.5, message, ha="center", va="center")
    return fig
