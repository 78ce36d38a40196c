"""Several models side by side: accuracy on train, validation and test."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from labkit.plot._bars import grouped_bars
from labkit.plot._figure import new_figure
from labkit.plot._style import SPLIT_COLORS
from labkit.plot._table import format_table

SPLITS = tuple(SPLIT_COLORS)
"""The splits a result may report, in the order they are shown."""

Results = Mapping[str, Mapping[str, float]]
"""Model name -> split -> accuracy as a fraction, e.g. ``{"CNN": {"train": 0.995, "test": 0.991}}``."""


def comparison_table(results: Results) -> str:
    """A text table of each model's accuracy per split, in percent (seed 004's results table).

    A split a model did not report is shown as "-".

    Parameters
    ----------
    results : mapping
        Model name -> ``{"train": acc, "validation": acc, "test": acc}``, each
        accuracy a fraction in [0, 1]; any split may be left out.

    Returns
    -------
    str
    """
    splits = _reported_splits(results)
    header = ["Model", *(f"{split.capitalize()} accuracy" for split in splits)]
    rows = [[model, *(f"{scores[split]:.2%}" if split in scores else "-" for split in splits)]
            for model, scores in results.items()]
    return format_table(header, rows)


def compare_models(results: Results, *, title: str | None = "Model comparison") -> Figure:
    """A grouped bar chart of each model's accuracy per split, each bar labelled with its value.

    The y axis starts just below the lowest accuracy: between models that all
    score around 99 %, the differences are the point.

    Parameters
    ----------
    results : mapping
        As for :func:`comparison_table`.
    title : str, optional

    Returns
    -------
    Figure
        Bar heights are accuracies in percent.
    """
    splits = _reported_splits(results)
    series = {split: [100.0 * scores.get(split, np.nan) for scores in results.values()] for split in splits}
    fig = new_figure(max(5.0, 2.5 + 0.6 * len(results) * len(splits)), 3.8)
    ax = fig.add_subplot()
    grouped_bars(ax, list(results), series, SPLIT_COLORS, value_format=".2f")
    ax.set_ylim(*accuracy_axis_limits(np.concatenate(list(series.values()))))
    ax.set_ylabel("accuracy (%)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return fig


def accuracy_axis_limits(percentages: np.ndarray) -> tuple[float, float]:
    """Y limits that spread close accuracies apart and leave room for the labels above the bars."""
    lowest, highest = np.nanmin(percentages), np.nanmax(percentages)
    bottom = max(0.0, float(np.floor(lowest - max(1.0, 2.0 * (highest - lowest)))))
    return bottom, float(highest + 0.12 * (highest - bottom))


def _reported_splits(results: Results) -> list[str]:
    """The splits at least one model reports, after checking every entry."""
    if not isinstance(results, Mapping) or not results:
        raise ValueError(
            'results must be a non-empty dict: model name -> {"train": acc, "validation": acc, "test": acc}.'
        )
    for model, scores in results.items():
        if not isinstance(scores, Mapping):
            raise ValueError(
                f'results[{model!r}] must be a dict such as {{"train": 0.99, "test": 0.98}}; got {scores!r}.'
            )
        unknown = set(scores) - set(SPLITS)
        if unknown:
            raise ValueError(f"results[{model!r}] has unknown splits {sorted(unknown)}; use {SPLITS}.")
        for split, accuracy in scores.items():
            if not 0.0 <= accuracy <= 1.0:
                raise ValueError(
                    f"results[{model!r}][{split!r}] = {accuracy!r} is not a fraction in [0, 1]; "
                    "give accuracies as fractions (0.987), not percent (98.7)."
                )
    splits = [split for split in SPLITS if any(split in scores for scores in results.values())]
    if not splits:
        raise ValueError(f"No model in results reports an accuracy; use the splits {SPLITS}.")
    return splits
