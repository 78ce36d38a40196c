"""Accuracy and weighted precision, recall and F1, as scikit-learn computes them, and a student's own.

Lab 5's ``weighted_scores`` returns the four scores of its comparison table; the
grader computes them with scikit-learn (:func:`reference_scores`), which is
both what the student's function is judged against and how the grader
measures a comparison table's rows (:mod:`autograder.scoring.comparison_tables`).
The student's function is called by a probe cell
(``probes/lab5_weighted_scores.py``) on label arrays drawn from the grading
run's secret (:func:`write_label_pairs`): 62 unbalanced classes, some never
predicted, where a weighted average differs from a macro one, and a small even
case. What it returns is read back only through an
:class:`~autograder.sandbox.output.OutputFolder` (:func:`weighted_scores_part`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from autograder.pipeline.results import PartResult, judged
from autograder.sandbox.output import OutputFolder, read_or_none
from autograder.sandbox.untrusted import finite_float, loads_json

CLASSES = 62
"""The classes of the first pair of label arrays: EMNIST ByClass's, most of them rare."""


def score_labels(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two (true, predicted) pairs: 62 unbalanced classes with some never predicted, and 7 even ones."""
    frequencies = 1.0 / np.arange(1, CLASSES + 1) ** 1.2
    true = rng.choice(CLASSES, size=3000, p=frequencies / frequencies.sum())
    predicted = np.where(rng.random(3000) < 0.6, true, rng.integers(0, CLASSES - 10, 3000))  # 10 classes never
    return [(true, predicted), (rng.integers(0, 7, 300), rng.integers(0, 7, 300))]


def write_label_pairs(folder: Path, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw :func:`score_labels` and write them for the probe (``labels.npz``: ``true_<k>``, ``predicted_<k>``)."""
    pairs = score_labels(rng)
    np.savez(folder / "labels.npz", **{f"{kind}_{k}": pair[i] for k, pair in enumerate(pairs)
                                       for i, kind in enumerate(("true", "predicted"))})
    return pairs


def reference_scores(true: np.ndarray, predicted: np.ndarray, average: str = "weighted") -> dict[str, float]:
    """scikit-learn's accuracy and ``average`` precision, recall and F1 (zero_division=0)."""
    from sklearn import metrics

    precision, recall, f1, _ = metrics.precision_recall_fscore_support(true, predicted, average=average,
                                                                       zero_division=0)
    return {"accuracy": float(metrics.accuracy_score(true, predicted)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def weighted_scores_part(part: str, points: float, expected: list[dict[str, float]],
                         macro: list[dict[str, float]], out: OutputFolder) -> tuple[PartResult, bool]:
    """The four scores for each label pair against scikit-learn's weighted averages."""
    raw = read_or_none(out.read_bytes, "scores.json", 2**16)
    if raw is None:
        return judged(part, points, False, "weighted_scores gave no scores back."), False
    try:
        found = loads_json(raw, max_bytes=2**16)
        rows = [{name: finite_float(row[name]) for name in expected[0]} for row in found]
        if len(rows) != len(expected) or not all(math.isfinite(v) for row in rows for v in row.values()):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        return judged(part, points, False, "weighted_scores' scores are not four finite numbers per call."), True
    wrong = sorted({name for row, want in zip(rows, expected) for name in want
                    if not math.isclose(row[name], want[name], abs_tol=1e-6)})
    if not wrong:
        return judged(part, points, True, f"weighted_scores gives scikit-learn's accuracy and weighted precision, "
                      f"recall and F1 on {len(expected)} pairs of label arrays ({CLASSES} unbalanced classes, some "
                      "never predicted; 7 even ones).", value="4 of 4 scores", threshold="4 of 4 scores"), True
    hint = ""
    if all(math.isclose(row[name], want[name], abs_tol=1e-6) for row, want in zip(rows, macro) for name in wrong):
        hint = (" These are macro averages (every class counts the same); weigh each class by its support: "
                "average=\"weighted\".")
    detail = ", ".join(f"{name} {rows[0][name]:.4f} (expected {expected[0][name]:.4f})" for name in wrong)
    return judged(part, points, False, f"On {CLASSES} unbalanced classes weighted_scores gives {detail}.{hint} Use "
                  "precision_recall_fscore_support(y_true, y_pred, average=\"weighted\", zero_division=0).",
                  value=f"{4 - len(wrong)} of 4 scores", threshold="4 of 4 scores"), True
