"""Grading lab 1 (MNIST): two saved Keras models and a hand-written training step.

The graded cells of ``solutions/lab1-mnist`` and how each is judged here:

========================  ==========================================================
``test-fc-model``         ``artifacts/fc.keras``'s architecture vs the hidden test's spec
``test-fc-accuracy``      its accuracy on the official MNIST test images vs the target
``test-cnn-model``        ``artifacts/cnn.keras``'s architecture
``test-cnn-accuracy``     its accuracy
``test-train-step``       the notebook's ``train_step`` vs the reference SGD step
========================  ==========================================================
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import comet_review, keras_models, keras_steps, notebook_run, notebooks, source
from autograder.options import GradingOptions
from autograder.release import repository_root
from autograder.results import SANDBOX_VERDICTS, NotebookTest, PartResult, judged, not_judged

LAB = "lab1-mnist"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
MODELS = {
    # name in artifacts/metrics.json and labkit.targets -> (model part, accuracy part, what it is)
    "fc": ("test-fc-model", "test-fc-accuracy", "The fully connected network"),
    "cnn": ("test-cnn-model", "test-cnn-accuracy", "The CNN"),
}
COMET_MODELS = {"fully connected": "fc", "cnn": "cnn"}
"""The ``model`` parameter of the notebook's Comet runs -> the model it trained."""
TRAIN_STEP = "test-train-step"
STEP_BATCH = 32
STEP_STARTS = 2
STEP_SEED = 1


def prepare(images: np.ndarray) -> np.ndarray:
    """As the notebook's ``prepare``: uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., np.newaxis]


def reference_step(model, batch) -> None:
    """One plain SGD step on the mean cross-entropy: what ``train_step`` must do with ``SGD(0.05)``."""
    import keras
    import tensorflow as tf

    from autograder.probes.keras_train_step import LEARNING_RATE

    images, labels = batch
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
    for variable, gradient in zip(model.trainable_variables, tape.gradient(loss, model.trainable_variables)):
        variable.assign_sub(LEARNING_RATE * gradient)


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    checks: dict[str, source.ArchitectureCheck]
    targets: dict[str, float]
    evaluation: keras_models.EvaluationSet
    step: keras_steps.StepProbe
    released: object
    options: GradingOptions


@dataclass(frozen=True)
class Graded:
    parts: tuple[PartResult, ...]
    notebook_tests: tuple[NotebookTest, ...]
    notes: tuple[str, ...]
    fingerprints: dict[str, str]
    runs: dict[str, dict]
    comet_runs: tuple[dict, ...]


class Grader:
    lab = LAB

    def source_notebook(self) -> Path:
        return repository_root() / "solutions" / LAB / f"{LAB}.ipynb"

    def released_notebook(self) -> Path:
        return repository_root() / "labs" / LAB / f"{LAB}.ipynb"

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the step probe's inputs and the reference facts, once per batch."""
        import labkit

        solution = source.read(self.source_notebook())
        points = source.graded_points(solution)
        expected = {part for parts in MODELS.values() for part in parts[:2]} | {TRAIN_STEP}
        if set(points) != expected:
            raise RuntimeError(f"{LAB}'s graded cells are {sorted(points)}, but this grader knows "
                               f"{sorted(expected)}: update autograder/labs/lab1_mnist.py.")
        checks = {MODELS[name][0]: source.architecture_check(solution, MODELS[name][0]) for name in MODELS}
        targets = {name: labkit.targets.target(LAB, name, options.profile) for name in MODELS}
        images, labels = labkit.data.load("mnist", "test")
        evaluation = keras_models.write_evaluation_set(scratch / "evaluation", prepare(images), labels, CLASSES)
        train_images, train_labels = labkit.data.load("mnist", "train")
        chosen = labkit.data.stratified_indices(train_labels, STEP_BATCH, seed=STEP_SEED)
        step = keras_steps.write_step_probe(scratch / "step", prepare(train_images[chosen]),
                                            np.asarray(train_labels[chosen]), STEP_STARTS, STEP_SEED,
                                            reference_step)
        notebook_run.install_runner(step.folder)
        for folder in (scratch, evaluation.folder, step.folder):
            _readable_by_all(folder)
        return Context(points, checks, targets, evaluation, step, source.read(self.released_notebook()),
                       options)

    def grade(self, copy: Path, context: Context) -> Graded:
        parts: dict[str, PartResult] = {}
        fingerprints, runs = {}, {}
        for name, (model_part, accuracy_part, what) in MODELS.items():
            model_file = copy / "artifacts" / f"{name}.keras"
            if model_file.is_file():
                fingerprints[name] = _sha256(model_file)
            found = keras_models.probe(model_file, context.evaluation, INPUT_SHAPE,
                                       context.options.probe_limits)
            runs[f"{name} model"] = {"seconds": round(found.seconds, 2), "peak_memory_bytes": found.peak_memory_bytes}
            check = context.checks[model_part]
            parts[model_part] = keras_models.architecture_part(
                model_part, context.points[model_part], found, check.spec, check.check)
            parts[accuracy_part] = keras_models.accuracy_part(
                accuracy_part, context.points[accuracy_part], found, context.evaluation.labels,
                context.targets[name], what)
        step_part, tests, notes = self._run_notebook(copy, context, runs)
        parts[TRAIN_STEP] = step_part
        ordered = tuple(parts[part] for part in context.points)
        return Graded(ordered, tests, tuple(notes), fingerprints, runs,
                      comet_review.read_runs(copy / "comet-offline"))

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        models = {name: parts[:2] for name, parts in MODELS.items()}
        return comet_review.review_rows(results, models, COMET_MODELS)

    def _run_notebook(self, copy: Path, context: Context, runs: dict):
        points = context.points[TRAIN_STEP]
        path = copy / f"{LAB}.ipynb"
        if not path.is_file():
            return judged(TRAIN_STEP, points, False, f"The submission has no {LAB}.ipynb."), (), []
        try:
            submitted = notebooks.read(path)
        except notebooks.NotebookError as error:
            return judged(TRAIN_STEP, points, False, str(error)), (), []
        restored, notes = notebooks.restore_locked_cells(submitted, context.released)
        options = context.options
        run = notebook_run.run(restored, copy, context.step.folder, context.step.cell_source(),
                               limits=options.notebook_limits, cell_timeout=options.cell_timeout,
                               data_dir=options.data_dir)
        runs["notebook"] = {"status": run.sandbox.status, "outcome": run.outcome,
                            "seconds": round(run.sandbox.seconds, 2),
                            "peak_memory_bytes": run.sandbox.peak_memory_bytes}
        graded_ids = list(context.points)
        tests = notebooks.notebook_tests(run.executed, graded_ids) if run.executed is not None else ()
        part, any_result = keras_steps.train_step_part(TRAIN_STEP, points, context.step, run.probe_out)
        if part.verdict == "pass":
            return part, tests, notes
        if run.sandbox.status != "ok" and not any_result:
            verdict = SANDBOX_VERDICTS.get(run.sandbox.status, "error")
            return not_judged(TRAIN_STEP, points, verdict, _run_problem(run, options)), tests, notes
        if run.outcome == "kernel died" and not any_result:
            return not_judged(TRAIN_STEP, points, "crashed",
                              "The notebook's kernel died before train_step could be checked."), tests, notes
        error = notebooks.error_of(run.probe_cell) if run.probe_cell is not None else None
        if error is not None and not any_result:
            ename, evalue = error
            if ename == "KeyboardInterrupt":
                return not_judged(TRAIN_STEP, points, "timeout", f"train_step ran longer than "
                                  f"{options.cell_timeout} s on one batch of {STEP_BATCH} images."), tests, notes
            return judged(TRAIN_STEP, points, False, f"Calling train_step raised {ename}: {evalue}"), tests, notes
        if not any_result:
            return judged(TRAIN_STEP, points, False, "train_step could not be checked: the grader's probe, "
                          "run after your last cell, gave no result. Does your notebook change or skip "
                          "the cells that run after it?"), tests, notes
        return part, tests, notes


def _run_problem(run, options: GradingOptions) -> str:
    status = run.sandbox.status
    limits = options.notebook_limits
    if status == "timeout":
        return f"The notebook ran longer than {limits.wall_seconds:.0f} s, the limit, so train_step was never checked."
    if status == "out-of-memory":
        return f"The notebook used more than {limits.memory_bytes / 2**30:.0f} GiB of memory, the limit."
    if status == "crashed":
        return "The notebook's process was killed before train_step could be checked."
    if status == "output-limit":
        return "The notebook printed more than the output limit allows."
    return f"The notebook could not be run ({status}): {(run.sandbox.stderr or '').strip()[-500:]}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _readable_by_all(folder: Path) -> None:
    """Sandboxes run as another user: the batch's read-only inputs must be readable by it."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
