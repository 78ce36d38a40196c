"""The pieces of a random hyperparameter search: the grid, a sample of it, a trial's record.

Trying every combination of a grid costs its full size in trainings (the lab's
grid has 3 × 3 × 4 × 4 = 144); trying a random sample of it finds a good
setting for a fraction of that, because usually only one or two of the
hyperparameters matter much (Bergstra & Bengio, 2012). Settings are sampled
without repetition by scikit-learn's ``ParameterSampler``. The search itself,
a new model trained and judged per setting, is lab 5's exercise: the notebook's
``random_search`` (and the grader's reference, ``autograder/scoring/random_search.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SGD_GRID: dict[str, list] = {
    "learning_rate": [1e-3, 1e-2, 1e-1],
    "batch_size": [16, 32, 64],
    "momentum": [0, 0.85, 0.9, 0.95],
    "weight_decay": [0, 1e-2, 1e-3, 1e-4],
}
"""The lab source's search space for SGD (144 combinations)."""


@dataclass(frozen=True)
class Trial:
    """One setting tried: its validation loss and accuracy after the search's epochs."""

    settings: Mapping
    validation_loss: float
    validation_accuracy: float
    seconds: float


def sample_settings(grid: Mapping[str, Sequence], trials: int, seed: int = 0) -> list[dict]:
    """``trials`` different settings drawn from ``grid`` (fewer if the grid is smaller)."""
    from sklearn.model_selection import ParameterSampler

    size = 1
    for values in grid.values():
        size *= len(values)
    return list(ParameterSampler(grid, n_iter=min(trials, size), random_state=seed))
