"""Precision, recall and F1 per class, computed by scikit-learn, as numbers and as bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn import metrics

from labkit.plot._bars import grouped_bars
from labkit.plot._figure import new_figure
from labkit.plot._inputs import true_and_predicted
from labkit.plot._style import SCORE_COLORS, fitting_font_size, x_label_rotation
from labkit.plot._table import format_table

SCORES = ("precision", "recall", "f1")


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 averaged over classes."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Per-class scores of a classifier, and their averages.

    ``print(report)`` (or leaving it as a notebook cell's value) shows the
    table scikit-learn's ``classification_report`` prints.
    """

    class_names: tuple[str, ...]
    precision: np.ndarray
    """Per class: of the images predicted as the class, the fraction that are."""
    recall: np.ndarray
    """Per class: of the images of the class, the fraction found."""
    f1: np.ndarray
    """Per class: the harmonic mean of precision and recall."""
    support: np.ndarray
    """Per class: how many images of it there are."""
    accuracy: float
    macro: Scores
    """Every class counts the same: rare classes weigh as much as common ones."""
    weighted: Scores
    """Classes count by their support, as seed 001 reports them."""

    def __str__(self) -> str:
        def row(name, precision, recall, f1, support) -> list[str]:
            return [name, f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}", str(support)]

        per_class = zip(self.class_names, self.precision, self.recall, self.f1, self.support)
        total = int(self.support.sum())
        footer = [["accuracy", "", "", f"{self.accuracy:.3f}", str(total)],
                  row("macro avg", *astuple(self.macro), total),
                  row("weighted avg", *astuple(self.weighted), total)]
        return format_table(["class", *SCORES, "support"], [row(*entry) for entry in per_class], footer)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython shows the table, not the arrays."""
        printer.text(str(self))


def classification_report(y_true: ArrayLike, y_pred: ArrayLike,
                          class_names: Sequence[str] | None = None) -> ClassificationReport:
    """Per-class precision, recall, F1 and support, with accuracy and macro/weighted averages.

    Every class in ``class_names`` gets a row, with zeros for a class that is
    never predicted (instead of scikit-learn's warning).

    Parameters
    ----------
    y_true, y_pred : array-like of int
        The correct and the predicted class of each image.
    class_names : sequence of str, optional
        One name per class.

    Returns
    -------
    ClassificationReport
    """
    y_true, y_pred, names = true_and_predicted(y_true, y_pred, class_names)
    labels = np.arange(len(names))

    def scores(average: str | None):
        return metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                       zero_division=0)

    precision, recall, f1, support = scores(None)
    return ClassificationReport(
        class_names=names, precision=precision, recall=recall, f1=f1, support=support,
        accuracy=float(metrics.accuracy_score(y_true, y_pred)),
        macro=Scores(*map(float, scores("macro")[:3])),
        weighted=Scores(*map(float, scores("weighted")[:3])),
    )


def classification_report_figure(y_true: ArrayLike, y_pred: ArrayLike,
                                 class_names: Sequence[str] | None = None, *,
                                 scores: str | Sequence[str] = ("f1",),
                                 title: str | None = None) -> Figure:
    """Per-class scores as bars, with each score's weighted average as a dashed line.

    The classes far below the line are the ones worth a look in
    :func:`labkit.plot.misclassified`.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        The correct and the predicted class of each image.
    class_names : sequence of str, optional
        One name per class.
    scores : str or sequence of {"precision", "recall", "f1"}
        Which scores to draw, side by side per class.
    title : str, optional

    Returns
    -------
    Figure
    """
    scores = (scores,) if isinstance(scores, str) else tuple(scores)
    unknown = [score for score in scores if score not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores must be chosen from {SCORES}; got {scores}.")
    report = classification_report(y_true, y_pred, class_names)
    n = len(report.class_names)
    width = float(np.clip(1.5 + 0.12 * n * (len(scores) + 1), 6.0, 20.0))
    fig = new_figure(width, 3.8)
    ax = fig.add_subplot()
    grouped_bars(ax, report.class_names, {score: getattr(report, score) for score in scores}, SCORE_COLORS)
    for score in scores:
        ax.axhline(getattr(report.weighted, score), color=SCORE_COLORS[score], linestyle="--",
                   linewidth=1, label=f"weighted {score}")
    ax.tick_params(axis="x", labelsize=fitting_font_size(n, width - 1.0),  # less the y axis and legend
                   labelrotation=x_label_rotation(report.class_names))
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0.0, 1.05)
    ax.set(xlabel="class", ylabel="score")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.set_title(title or f"Per-class {', '.join(scores)} (accuracy {report.accuracy:.1%})")
    return fig
