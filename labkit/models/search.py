"""Random hyperparameter search: train a fresh model per setting for a few epochs, keep the best.

Trying every combination of a grid costs its full size in trainings (the lab's
grid has 3 × 3 × 4 × 4 = 144); trying a random sample of it finds a good
setting for a fraction of that, because usually only one or two of the
hyperparameters matter much (Bergstra & Bengio, 2012). Settings are sampled
without repetition by scikit-learn's ``ParameterSampler``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from labkit.models.training import mean_loss, predict, train_epoch

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


def sgd(parameters, settings: Mapping):
    """The optimizer a setting of :data:`SGD_GRID` describes."""
    import torch

    return torch.optim.SGD(parameters, lr=settings["learning_rate"], momentum=settings["momentum"],
                           weight_decay=settings["weight_decay"])


def random_search(make_model: Callable[[], "torch.nn.Module"], grid: Mapping[str, Sequence], *,
                  trials: int, make_loader: Callable[[int], object], validation, epochs: int,
                  device, seed: int = 0, augment=None, make_optimizer=sgd) -> list[Trial]:
    """Train a new model for each of ``trials`` sampled settings; return the trials, best first.

    Parameters
    ----------
    make_model : callable
        Returns a new, untrained model already on ``device``.
    grid : mapping
        ``learning_rate``, ``batch_size``, ``momentum`` and ``weight_decay``
        values to choose from (:data:`SGD_GRID`).
    make_loader : callable
        ``make_loader(batch_size)`` gives the training batches for one setting.
    make_optimizer : callable
        ``make_optimizer(model.parameters(), settings)``; SGD by default (:func:`sgd`).
    validation : iterable of batches
        Where each setting is judged, by mean loss (lower is better).
    """
    import torch

    results = []
    for settings in sample_settings(grid, trials, seed):
        started = time.perf_counter()
        model = make_model()
        optimizer = make_optimizer(model.parameters(), settings)
        batches = make_loader(settings["batch_size"])
        try:
            for _ in range(epochs):
                train_epoch(model, batches, optimizer, device=device, augment=augment)
            loss = mean_loss(model, validation, device=device)
        except FloatingPointError:  # this setting diverged: it is the worst, not an error
            loss = float("inf")
        labels = torch.cat([labels for _, labels in validation]).numpy()
        accuracy = float((predict(model, validation, device=device).argmax(axis=1) == labels).mean())
        results.append(Trial(settings, loss, accuracy, time.perf_counter() - started))
    return sorted(results, key=lambda trial: trial.validation_loss)
