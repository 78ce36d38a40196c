"""A student's random search judged by the trials it reports on a problem the grader made.

Lab 5's ``random_search(make_model, grid, trials, make_loader, validation, epochs,
seed)`` trains a new model for each of ``trials`` settings drawn from ``grid`` and
returns the trials, lowest validation loss first. A probe cell
(``probes/lab5_random_search.py``) runs it on a small problem drawn from the
grading run's secret: a float64 linear classifier that always starts from the
same weights, so that each setting has one right validation loss, which the
grader computes here with ``torch.optim.SGD`` (:func:`draw_reference`). A learning rate
of the grid diverges, so a search that does not survive a diverging trial fails.

A search passes when, for each of three seeds, it reports ``trials`` distinct
settings of the grid, made one new model per trial, reports for each the
validation loss and accuracy the grader's training gives, lowest loss first (a
diverged setting's loss is ``inf``, its accuracy not judged), and its draws vary
with the seed.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.pipeline.results import PartResult, judged
from autograder.sandbox.output import OutputFolder, read_or_none

TRIALS, EPOCHS, SEEDS = 4, 2, 3
FEATURES, CLASSES, TRAIN_ROWS, VALIDATION_ROWS = 6, 3, 48, 24
DIVERGING_RATE, WEIGHT_BOUND = 1e4, 1e4
"""A learning rate of the grid that sends the classifier's squared weights past the bound in one step."""
BATCH_SIZES, MOMENTA, WEIGHT_DECAYS = (8, 16), (0.0, 0.9), (0.0, 0.01)
MAX_OUTPUT_BYTES = 2**16


@dataclass(frozen=True)
class Reference:
    """The grader's problem, and the validation loss and accuracy each setting of its grid must give."""

    problem: dict
    grid: dict[str, list]
    seeds: list[int]
    scores: dict[tuple, tuple[float, float]]  # setting (grid order) -> (validation loss, accuracy)
    other_epochs: dict[int, dict[tuple, tuple[float, float]]]  # what one epoch fewer or more gives


def draw_problem(rng: np.random.Generator) -> tuple[dict, dict[str, list]]:
    """Features, labels a random linear teacher gives them, the classifier's start, and the grid."""
    teacher = rng.normal(size=(FEATURES, CLASSES))
    features = rng.normal(size=(TRAIN_ROWS + VALIDATION_ROWS, FEATURES))
    labels = np.argmax(features @ teacher + 0.5 * rng.normal(size=(len(features), CLASSES)), axis=1)
    problem = {"train_x": features[:TRAIN_ROWS], "train_y": labels[:TRAIN_ROWS].astype(np.int64),
               "val_x": features[TRAIN_ROWS:], "val_y": labels[TRAIN_ROWS:].astype(np.int64),
               "start": {"weight": 0.1 * rng.normal(size=(CLASSES, FEATURES)), "bias": np.zeros(CLASSES)},
               "bound": np.float64(WEIGHT_BOUND)}
    rates = sorted(float(f"{rate:.3g}") for rate in rng.uniform(0.02, 0.3, size=2))
    grid = {"learning_rate": [*rates, DIVERGING_RATE], "batch_size": list(BATCH_SIZES),
            "momentum": list(MOMENTA), "weight_decay": list(WEIGHT_DECAYS)}
    return problem, grid


def key(settings: Mapping, grid: Mapping[str, Sequence]) -> tuple:
    """A setting as the tuple of its values in the grid's order (floats): how scores are looked up."""
    return tuple(float(settings[name]) for name in grid)


def shown(k: tuple, grid: Mapping[str, Sequence]) -> dict:
    """The setting ``k`` with the grid's own values (``batch_size`` 8, not 8.0), for feedback."""
    return {name: next(v for v in grid[name] if float(v) == x) for name, x in zip(grid, k)}


def drawn_seeds(grid: Mapping[str, Sequence], rng: np.random.Generator) -> list[int]:
    """:data:`SEEDS` seeds whose draws by ``models.sample_settings`` differ and include a diverging setting.

    So that a student who draws as the lab says meets a diverging trial and the seeds' effect.
    """
    from labkit import models

    seeds, draws = [], []
    while len(seeds) < SEEDS:
        seed = int(rng.integers(0, 2**31 - 1))
        draw = frozenset(key(settings, grid) for settings in models.sample_settings(grid, TRIALS, seed))
        if draw not in draws and (seeds or any(k[0] == DIVERGING_RATE for k in draw)):
            seeds.append(seed)
            draws.append(draw)
    return seeds


def draw_reference(rng: np.random.Generator) -> Reference:
    """The problem, its seeds, and every setting's scores after :data:`EPOCHS` (and one fewer or more)."""
    from autograder.probes.lab5_random_search import trained_scores

    problem, grid = draw_problem(rng)
    settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]

    def scores(epochs: int) -> dict[tuple, tuple[float, float]]:
        return {key(setting, grid): trained_scores(setting, problem, epochs) for setting in settings}

    found = scores(EPOCHS)
    if any(math.isinf(loss) != (k[0] == DIVERGING_RATE) for k, (loss, _) in found.items()):
        raise RuntimeError("the random search's problem does not diverge where it should: adjust DIVERGING_RATE "
                           "or WEIGHT_BOUND")
    return Reference(problem, grid, drawn_seeds(grid, rng), found,
                     {epochs: scores(epochs) for epochs in (EPOCHS - 1, EPOCHS + 1)})


def write_inputs(folder: Path, rng: np.random.Generator) -> Reference:
    """Draw the :func:`draw_reference` problem and write it for the probe."""
    found = draw_reference(rng)
    problem = {name: value for name, value in found.problem.items() if name != "start"}
    np.savez(folder / "problem.npz", **problem, **found.problem["start"])
    (folder / "search.json").write_text(json.dumps({"grid": found.grid, "seeds": found.seeds, "trials": TRIALS,
                                                    "epochs": EPOCHS}))
    return found


# --- the judge --------------------------------------------------------------------------------------------


def as_number(value) -> float | None:
    """A reported loss or accuracy: a JSON number, or ``"inf"``/``"nan"`` as the probe writes them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if value in ("inf", "-inf", "nan"):
        return float(value)
    return None


def same(found: float, wanted: float) -> bool:
    """Equal up to float64 rounding (a diverged setting's ``inf`` included)."""
    return found == wanted or math.isclose(found, wanted, rel_tol=1e-7, abs_tol=1e-10)


def run_problem(run, reference: Reference) -> str | None:
    """What is wrong with one seed's search, or None."""
    grid = reference.grid
    if not isinstance(run, dict) or not isinstance(run.get("trials"), list) or \
            not isinstance(run.get("models_made"), int):
        return "the probe's record of the search is unreadable"
    trials = run["trials"]
    if len(trials) != TRIALS:
        return f"it returned {len(trials)} trials for trials={TRIALS}"
    keys = []
    for trial in trials:
        settings = trial.get("settings") if isinstance(trial, dict) else None
        if not isinstance(settings, dict) or set(settings) != set(grid) or \
                any(as_number(settings[name]) not in [float(v) for v in grid[name]] for name in grid):
            return f"a trial's settings {str(settings)[:120]} are not a combination of the grid's values"
        keys.append(key(settings, grid))
    if len(set(keys)) != len(keys):
        return "it tried the same setting twice: draw distinct settings"
    if run["models_made"] != len(trials):
        return (f"it made {run['models_made']} models for {len(trials)} trials: each trial trains a new model "
                "from make_model(), or it starts from the weights an earlier trial left")
    for trial, k in zip(trials, keys):
        loss, accuracy = as_number(trial.get("validation_loss")), as_number(trial.get("validation_accuracy"))
        wanted_loss, wanted_accuracy = reference.scores[k]
        diverged = math.isinf(wanted_loss)  # its accuracy is whatever NaN outputs give: not judged
        if loss is None or accuracy is None or not same(loss, wanted_loss) or \
                not (diverged or same(accuracy, wanted_accuracy)):
            return (f"for {shown(k, grid)} it reports validation loss {trial.get('validation_loss')} and accuracy "
                    f"{trial.get('validation_accuracy')}, where a new model trained {EPOCHS} epochs with "
                    f"pretrain_optimizer gives {wanted_loss:.6g} and {wanted_accuracy:.4g}"
                    f"{diverged_hint(wanted_loss)}{epochs_hint(loss, k, reference)}")
    losses = [as_number(trial["validation_loss"]) for trial in trials]
    if losses != sorted(losses):
        return "its trials are not sorted by validation loss, lowest (best) first"
    return None


def diverged_hint(wanted_loss: float) -> str:
    if math.isinf(wanted_loss):
        return (" (inf: this setting diverges, train_epoch raises FloatingPointError; record the trial with "
                "a validation loss of float('inf') and go on)")
    return ""


def epochs_hint(loss: float | None, k: tuple, reference: Reference) -> str:
    for epochs, scores in reference.other_epochs.items():
        if loss is not None and same(loss, scores[k][0]):
            return f" (what {epochs} epoch{'s' if epochs != 1 else ''} of training give: train for `epochs`)"
    return ""


def random_search_part(part: str, points: float, reference: Reference, out: OutputFolder) -> tuple[PartResult, bool]:
    """Each seed's reported trials against the grader's training of the same settings."""
    runs = read_or_none(out.read_json, "trials.json", MAX_OUTPUT_BYTES)
    if not isinstance(runs, list) or len(runs) != len(reference.seeds):
        return judged(part, points, False, "random_search gave no readable trials back."), out.exists("trials.json")
    problems = {seed: run_problem(run, reference) for run, seed in zip(runs, reference.seeds)}
    value, threshold = (f"{sum(p is None for p in problems.values())} of {SEEDS} searches",
                        f"{SEEDS} of {SEEDS} searches")
    wrong = [f"with seed={seed}, {problem}" for seed, problem in problems.items() if problem]
    if wrong:
        return judged(part, points, False, f"On the grader's small problem ({TRIALS} trials of {EPOCHS} epochs "
                      f"from a grid of {math.prod(len(v) for v in reference.grid.values())} settings): "
                      + "; ".join(wrong[:2]) + ".", value=value, threshold=threshold), True
    draws = {frozenset(key(trial["settings"], reference.grid) for trial in run["trials"]) for run in runs}
    if len(draws) == 1:
        return judged(part, points, False, f"random_search tried the same settings for the seeds {reference.seeds}: "
                      "draw them at random with the seed, models.sample_settings(grid, trials, seed).",
                      value=value, threshold=threshold), True
    return judged(part, points, True, f"For {SEEDS} seeds on the grader's small problem, random_search trains a new "
                  f"model per setting, reports the validation loss and accuracy the grader's training gives "
                  f"(a diverging setting's as inf), best first, and draws distinct settings that vary with the seed.",
                  value=value, threshold=threshold), True
