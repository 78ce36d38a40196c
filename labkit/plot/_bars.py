"""Grouped bar charts: several series side by side within each category."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes


def grouped_bars(ax: Axes, categories: Sequence[str], series: Mapping[str, Sequence[float]],
                 colors: Mapping[str, str], *, value_format: str | None = None,
                 label_size: float = 8) -> None:
    """Draw one group of bars per category, one bar per series, and label the categories.

    Parameters
    ----------
    ax : Axes
    categories : sequence of str
        The x tick labels, one per group.
    series : mapping of str to sequence of float
        Legend label -> one value per category; NaN leaves a gap.
    colors : mapping of str to str
        Legend label -> bar colour.
    value_format : str, optional
        A format spec (``".2f"``) to write each value above its bar.
    label_size : float
        Font size of those values.
    """
    positions = np.arange(len(categories))
    width = 0.8 / len(series)
    for rank, (label, values) in enumerate(series.items()):
        offset = (rank - (len(series) - 1) / 2) * width
        bars = ax.bar(positions + offset, values, width, label=label, color=colors[label])
        if value_format is not None:
            texts = ["" if np.isnan(value) else format(value, value_format) for value in values]
            ax.bar_label(bars, texts, padding=2, fontsize=label_size)
    ax.set_xticks(positions, categories)
