"""Several models side by side: accuracy on train, validation and test, or held-out scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from labkit.plot._bars import grouped_bars
from labkit.plot._figure import new_figure
from labkit.plot._style import SCORE_COLORS, SPLIT_COLORS
from labkit.plot._table import format_table

SPLITS = tuple(SPLIT_COLORS)
"""The splits a result may report, in the order they are shown."""

SCORES = ("accuracy", "precision", "recall", "f1")
"""The scores :func:`compare_scores` draws: accuracy and the weighted averages of seed 001's table."""
SCORES_COLORS = {"accuracy": "navy", **SCORE_COLORS}

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
    return _percent_bars(list(results), series, SPLIT_COLORS, "accuracy (%)", title, bar_width=0.6)


def compare_scores(scores: Results, *, title: str | None = "Scores on the held-out images") -> Figure:
    """A grouped bar chart of each model's accuracy and weighted precision, recall and F1 (seed 001's table).

    Parameters
    ----------
    scores : mapping
        Model name -> ``{"accuracy": ..., "precision": ..., "recall": ..., "f1": ...}``, each a
        fraction in [0, 1]; other keys (a table row's parameters or seconds) are left out.
    title : str, optional

    Returns
    -------
    Figure
        Bar heights are the scores in percent.
    """
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError('scores must be a non-empty dict: model name -> {"accuracy": ..., "precision": ..., ...}.')
    for model, row in scores.items():
        missing = [score for score in SCORES if not isinstance(row, Mapping) or score not in row]
        if missing:
            raise ValueError(f"scores[{model!r}] has no {', '.join(missing)}; give all of {SCORES}.")
        wrong = [score for score in SCORES if not 0.0 <= row[score] <= 1.0]
        if wrong:
            raise ValueError(f"scores[{model!r}]: {', '.join(wrong)} must be fractions in [0, 1] (0.87, not 87).")
    series = {score: [100.0 * row[score] for row in scores.values()] for score in SCORES}
    return _percent_bars(list(scores), series, SCORES_COLORS, "score (%)", title, bar_width=0.45, value_format=".1f")


def _percent_bars(categories: list[str], series: dict[str, list[float]], colors: Mapping[str, str], ylabel: str,
                  title: str | None, *, bar_width: float, value_format: str = ".2f") -> Figure:
    """The comparison charts' figure: grouped bars, a y axis that spreads close values, the legend outside."""
    fig = new_figure(max(5.0, 2.5 + bar_width * len(categories) * len(series)), 3.8)
    ax = fig.add_subplot()
    grouped_bars(ax, categories, series, colors, value_format=value_format)
    ax.set_ylim(*accuracy_axis_limits(np.concatenate([np.asarray(values) for values in series.values()])))
    ax.set_ylabel(ylabel)
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
