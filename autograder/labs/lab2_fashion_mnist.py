"""Grading lab 2 (Fashion-MNIST): one saved Keras CNN, how it was trained, and ``predicted_classes``.

The graded cells of ``solutions/lab2-fashion-mnist`` and how each is judged here:

==========================  ========================================================
``test-cnn-model``          ``artifacts/cnn.keras``'s architecture vs the hidden test's spec
``test-training``           how ``artifacts/cnn.keras`` says it was compiled and trained
``test-cnn-accuracy``       its accuracy on the official Fashion-MNIST test images vs the target
``test-predicted-classes``  the notebook's ``predicted_classes`` on the grader's probabilities
==========================  ========================================================

**Why ``test-training`` is judged from the model file.** The hidden test reads
``fit``'s history and ``cnn_model.optimizer`` in the student's kernel: the
epochs, the validation scores, the batches per epoch (batch size and validation
split), Adam, and a learning rate that decayed to zero. Values in that kernel or
in ``metrics.json`` are whatever the student's process says. A ``.keras`` file
records the same facts as data: its compile configuration (the optimizer, its
learning-rate schedule, the loss, the metrics) and the optimizer's step counter,
the number of batches the saved weights were trained on. The model probe reads
them in the sandbox (safe mode), and the grader requires what the exercise asks
for: Adam with the given cosine schedule from ``CNN_LEARNING_RATE`` over the
whole run (so the rate is zero at the end), the sparse cross-entropy on
probabilities, the accuracy metric, and exactly ``CNN_EPOCHS`` epochs of
``ceil(train images x (1 - VALIDATION_SPLIT) / CNN_BATCH_SIZE)`` batches. These
settings are read from the source notebook for the grading profile (never
executed). That the loss went down is what the accuracy part measures: only a
model that learnt reaches the target. A file forged to record these settings
still has to carry weights that reach the target.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import (
    comet_review, evaluation_sets, keras_models, notebook_parts, notebook_run, probes, sandbox, source
)
from autograder.keras_models import ModelProbe, SavedModel
from autograder.options import GradingOptions
from autograder.labs import LabGrader
from autograder.results import Graded, PartResult, judged, not_judged

LAB = "lab2-fashion-mnist"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
CNN = SavedModel("cnn", "test-cnn-model", "test-cnn-accuracy", "The CNN")
COMET_MODELS = {"cnn, batch normalisation, flips": "cnn"}
"""The ``model`` parameter of the notebook's Comet run -> the model it trained."""
TRAINING = "test-training"
PREDICTED_CLASSES = "test-predicted-classes"
PROBABILITY_ROWS = 400
PROBABILITY_SEED = 2


@dataclass(frozen=True)
class Recipe:
    """The training settings the exercise gives, for the grading profile."""

    train_size: int
    validation_split: float
    epochs: int
    batch_size: int
    learning_rate: float

    @property
    def steps(self) -> int:
        """Batches in the whole run, as ``fit`` counts them (and the notebook's schedule)."""
        trained_on = int(self.train_size * (1 - self.validation_split))
        return self.epochs * math.ceil(trained_on / self.batch_size)


def recipe_of(solution, profile: str, full_train_size: int) -> Recipe:
    """The recipe as the source notebook sets it in ``profile`` (the full training set by default)."""
    given = source.settings(solution, "compile-and-fit", profile)
    train_size = source.settings(solution, "prepare", profile).get("train_size", full_train_size)
    return Recipe(int(train_size), float(given["VALIDATION_SPLIT"]), int(given["CNN_EPOCHS"]),
                  int(given["CNN_BATCH_SIZE"]), float(given["CNN_LEARNING_RATE"]))


def probability_matrix(rows: int, seed: int) -> np.ndarray:
    """Probabilities over 10 classes, half of the rows hesitant (no value above 0.5), each with one clear maximum."""
    rng = np.random.default_rng(seed)
    hesitant = rng.dirichlet(np.full(CLASSES, 3.0), size=rows // 2)  # flat: the maximum is rarely above 0.5
    confident = rng.dirichlet(np.full(CLASSES, 0.2), size=rows - rows // 2)
    matrix = np.concatenate([hesitant, confident])[rng.permutation(rows)]
    ordered = np.sort(matrix, axis=1)
    keep = ordered[:, -1] - ordered[:, -2] > 1e-3  # no near-ties: argmax is unambiguous
    return matrix[keep]


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    check: source.ArchitectureCheck
    target: float
    recipe: Recipe
    evaluation: keras_models.EvaluationSet
    probe_dir: Path
    probabilities: np.ndarray
    released: object
    options: GradingOptions


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probe's probabilities and the reference facts, once per batch."""
        import labkit

        solution, points = self.read_source({CNN.model_part, CNN.accuracy_part, TRAINING, PREDICTED_CLASSES})
        _, train_labels = labkit.data.load("fashion-mnist", "train")
        evaluation = keras_models.write_evaluation_set(scratch / "evaluation", evaluation_sets.images_for(
            options.evaluation_dir, LAB, CLASSES,
            lambda: evaluation_sets.official_test_set("fashion-mnist", "Fashion-MNIST")), CLASSES)
        probe_dir = scratch / "predicted-classes"
        probe_dir.mkdir(parents=True)
        probabilities = probability_matrix(PROBABILITY_ROWS, PROBABILITY_SEED)
        np.save(probe_dir / "probabilities.npy", probabilities, allow_pickle=False)
        shutil.copyfile(probes.PREDICTED_CLASSES, probe_dir / probes.PREDICTED_CLASSES.name)
        notebook_run.install_runner(probe_dir)
        for folder in (scratch, evaluation.folder, probe_dir):
            sandbox.readable_by_all(folder)
        return Context(points, source.architecture_check(solution, CNN.model_part),
                       labkit.targets.target(LAB, CNN.name, options.profile),
                       recipe_of(solution, options.profile, len(train_labels)), evaluation, probe_dir,
                       probabilities, source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        runs, points = {}, context.points
        graded = keras_models.grade_model(copy, CNN, points, context.check, context.target, context.evaluation,
                                          INPUT_SHAPE, context.options.probe_limits, training=True)
        runs["cnn model"] = graded.run
        parts = {CNN.model_part: graded.model_part, CNN.accuracy_part: graded.accuracy_part,
                 TRAINING: training_part(TRAINING, points[TRAINING], graded.found, context.recipe)}
        probed = notebook_parts.ProbedPart(
            PREDICTED_CLASSES, points[PREDICTED_CLASSES], "predicted_classes",
            f"a matrix of {len(context.probabilities)} x {CLASSES} probabilities",
            notebook_parts.probe_cell("your predicted_classes on the grader's probabilities.",
                                      "predicted_classes", context.probe_dir / probes.PREDICTED_CLASSES.name),
            lambda probe_out: predicted_classes_part(PREDICTED_CLASSES, points[PREDICTED_CLASSES],
                                                     context.probabilities, probe_out))
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.probe_dir,
                                                          [probed], list(points), context.options, runs)
        parts.update(probed_parts)
        fingerprints = {CNN.name: graded.fingerprint} if graded.fingerprint is not None else {}
        return Graded(tuple(parts[part] for part in points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        return comet_review.review_rows(results, {CNN.name: CNN.parts}, COMET_MODELS)


# --- judging what came back ---------------------------------------------------------------------


def predicted_classes_part(part: str, points: float, probabilities: np.ndarray,
                           probe_out: Path) -> tuple[PartResult, bool]:
    """The returned classes against the argmax of each row; the bool says whether anything came back."""
    path = probe_out / "classes.npy"
    if not path.is_file() or path.is_symlink():
        return judged(part, points, False, "predicted_classes gave no classes back."), False
    rows = len(probabilities)
    if path.stat().st_size > rows * 8 + 4096:
        return judged(part, points, False, "predicted_classes returned more values than there are rows."), True
    try:
        classes = np.load(path, allow_pickle=False)
    except Exception as error:
        return judged(part, points, False, f"predicted_classes' result is not a readable array "
                                           f"({type(error).__name__})."), True
    if classes.shape != (rows,):
        return judged(part, points, False, f"For {rows} rows of probabilities predicted_classes returned shape "
                                           f"{classes.shape}, not ({rows},): one class per image."), True
    if classes.dtype.kind not in "iu":
        return judged(part, points, False, f"predicted_classes returned {classes.dtype} values; classes are "
                                           "integers."), True
    expected = probabilities.argmax(axis=1)
    wrong = classes != expected
    hesitant = probabilities.max(axis=1) <= 0.5
    threshold = f"{rows} of {rows} rows"
    if not wrong.any():
        return judged(part, points, True, f"predicted_classes picks the most probable class of all {rows} rows, "
                      f"including the {int(hesitant.sum())} where no probability is above 0.5.",
                      value=f"{rows} of {rows} rows", threshold=threshold), True
    message = (f"predicted_classes picks the most probable class in {rows - int(wrong.sum())} of {rows} rows; "
               f"it is wrong in {int((wrong & hesitant).sum())} of the {int(hesitant.sum())} rows where no "
               f"probability is above 0.5 and in {int((wrong & ~hesitant).sum())} of the others. Take the "
               "index of the largest probability of each row (argmax), without any threshold.")
    return judged(part, points, False, message, value=f"{rows - int(wrong.sum())} of {rows} rows",
                  threshold=threshold), True


def training_part(part: str, points: float, found: ModelProbe, recipe: Recipe) -> PartResult:
    """The compile settings and step count the saved model records, against the exercise's recipe."""
    if found.training is None:
        reason = found.training_problem or found.problem or "The model's training settings could not be read."
        if found.verdict in ("pass", "fail"):
            return judged(part, points, False, reason, threshold=f"{recipe.steps} steps")
        return not_judged(part, points, found.verdict, reason)
    problems, steps = training_problems(found.training, recipe)
    value = f"{steps} steps" if isinstance(steps, int) else "unknown"
    if problems:
        return judged(part, points, False, " ".join(problems), value=value, threshold=f"{recipe.steps} steps")
    return judged(part, points, True, f"The model was compiled with Adam, the cosine schedule, the sparse "
                  f"cross-entropy and the accuracy metric, and trained for {recipe.epochs} epochs of "
                  f"{recipe.steps // recipe.epochs} batches, as the exercise asks.", value=value,
                  threshold=f"{recipe.steps} steps")


def training_problems(facts: dict, recipe: Recipe) -> tuple[list[str], int | None]:
    """Every way the recorded compile settings and step count differ from the recipe (pure)."""
    config = facts.get("compile_config")
    steps = facts.get("iterations")
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    if not isinstance(config, dict) or not config:
        return ["The saved model is not compiled: compile it in compile_and_fit, train it, then save it."], steps
    problems = []
    optimizer = config.get("optimizer")
    optimizer_name = optimizer.get("class_name") if isinstance(optimizer, dict) else optimizer
    if optimizer_name != "Adam":
        problems.append(f"The optimizer is {str(optimizer_name)[:50]!r}, not keras.optimizers.Adam.")
    settings = optimizer.get("config") if isinstance(optimizer, dict) else None
    schedule = settings.get("learning_rate") if isinstance(settings, dict) else None
    problems += _schedule_problems(schedule, recipe, steps)
    if not _is_sparse_cross_entropy(config.get("loss")):
        problems.append(f"The loss is {str(config.get('loss'))[:80]!r}, not the sparse categorical "
                        "cross-entropy on probabilities.")
    if not _has_accuracy(config.get("metrics")):
        problems.append(f"The metrics are {str(config.get('metrics'))[:80]!r}; compile with metrics=[\"accuracy\"].")
    per_epoch = recipe.steps // recipe.epochs
    if steps != recipe.steps:
        problems.append(f"The optimizer took {steps} steps in all; CNN_EPOCHS = {recipe.epochs} epochs of "
                        f"{per_epoch} batches (CNN_BATCH_SIZE = {recipe.batch_size}, VALIDATION_SPLIT = "
                        f"{recipe.validation_split} of {recipe.train_size:,} images) make {recipe.steps}.")
    return problems, steps


def _schedule_problems(schedule, recipe: Recipe, steps: int | None) -> list[str]:
    if not isinstance(schedule, dict) or schedule.get("class_name") != "CosineDecay":
        return ["The learning rate is not the given cosine schedule: pass schedule to keras.optimizers.Adam."]
    settings = schedule.get("config") or {}
    initial, decay_steps = settings.get("initial_learning_rate"), settings.get("decay_steps")
    alpha = settings.get("alpha") or 0.0
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (initial, decay_steps, alpha)) \
            or decay_steps <= 0:
        return ["The learning-rate schedule's settings are not numbers."]
    problems = []
    if not math.isclose(initial, recipe.learning_rate, rel_tol=1e-6):
        problems.append(f"The schedule starts at {initial:g}, not CNN_LEARNING_RATE = {recipe.learning_rate:g}.")
    if steps is not None:
        progress = min(steps, decay_steps) / decay_steps
        final = initial * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha)
        if final >= 0.01 * recipe.learning_rate:
            problems.append(f"The learning rate ended at {final:.2g} instead of decaying to zero: the schedule "
                            f"decays over {decay_steps:g} steps, the run took {steps}.")
    return problems


def _is_sparse_cross_entropy(loss) -> bool:
    if isinstance(loss, dict):
        settings = loss.get("config")
        if isinstance(settings, dict) and settings.get("from_logits"):
            return False
        loss = settings if loss.get("class_name") == "function" else loss.get("class_name")
    return isinstance(loss, str) and loss.replace("_", "").lower() == "sparsecategoricalcrossentropy"


def _has_accuracy(metrics) -> bool:
    names = [m.get("class_name") if isinstance(m, dict) else m for m in (metrics if isinstance(metrics, list) else [])]
    return any(isinstance(name, str) and name.replace("_", "").lower() in ("accuracy", "sparsecategoricalaccuracy")
               for name in names)
