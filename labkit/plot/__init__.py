"""Every plot the labs show, as functions that return a matplotlib ``Figure``.

>>> import labkit
>>> x, y = labkit.data.load("emnist-bymerge", "test")
>>> names = labkit.data.class_names("emnist-bymerge")
>>> labkit.plot.images(x[:30], y[:30], names)                    # a first look
>>> labkit.plot.history(model.fit(...))                          # how training went
>>> p = model.predict(x[:1000])
>>> labkit.plot.predictions(x[:25], p[:25], y[:25], names)       # blue right, red wrong
>>> labkit.plot.confusion_matrix(y[:1000], p.argmax(1), names, normalize="true")

Figures are built without pyplot: nothing opens a window or accumulates in
pyplot's figure list, a figure shows itself when it is a notebook cell's
value, and ``fig.savefig(path)`` writes it to a file. Every function takes
``class_names`` and works for any number of classes, from 10 to EMNIST
ByClass's 62. Colours mean the same everywhere: blue is correct, red is wrong.
"""

from __future__ import annotations

from labkit.plot._compare import compare_models, compare_scores, comparison_table
from labkit.plot._confusion import ConfusedPair, confusion_matrix, most_confused_pairs
from labkit.plot._counts import class_counts
from labkit.plot._history import batch_losses, history
from labkit.plot._images import images
from labkit.plot._predictions import misclassified, prediction, predictions
from labkit.plot._report import (
    ClassificationReport,
    Scores,
    classification_report,
    classification_report_figure,
)

__all__ = [
    "ClassificationReport", "ConfusedPair", "Scores", "batch_losses", "class_counts",
    "classification_report", "classification_report_figure", "compare_models", "compare_scores",
    "comparison_table", "confusion_matrix", "history", "images", "misclassified", "most_confused_pairs",
    "prediction", "predictions",
]
