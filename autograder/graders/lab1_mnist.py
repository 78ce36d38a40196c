"""Grading lab 1 (MNIST): two saved Keras models and a hand-written training step.

The graded cells of ``solutions/lab1-mnist`` and how each is judged here:

========================  ==========================================================
``test-fc-model``         ``artifacts/fc.keras``'s architecture vs the hidden test's spec
``test-fc-accuracy``      its accuracy on the official MNIST test images vs the target
``test-cnn-model``        ``artifacts/cnn.keras``'s architecture
``test-cnn-accuracy``     its accuracy
``test-train-step``       the notebook's ``train_step`` vs the reference SGD step
========================  ==========================================================

The notebook is run without the cells that only train, evaluate, plot results
or save (``SKIP``): the models are graded from ``artifacts/``, and the probe of
``train_step`` needs only the cells that define it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, source
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded
from autograder.scoring import evaluation_sets, keras_models, keras_steps
from autograder.scoring.keras_models import SavedModel

LAB = "lab1-mnist"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
MODELS = (  # each named as in artifacts/metrics.json and labkit.targets
    SavedModel("fc", "test-fc-model", "test-fc-accuracy", "The fully connected network"),
    SavedModel("cnn", "test-cnn-model", "test-cnn-accuracy", "The CNN"),
)
COMET_MODELS = {"fully connected": "fc", "cnn": "cnn"}
"""The ``model`` parameter of the notebook's Comet runs -> the model it trained."""
TRAIN_STEP = "test-train-step"
STEP_BATCH = 32
STEP_STARTS = 2
SKIP = frozenset({
    "look", "fc-train", "fc-evaluate", "test-fc-accuracy", "cnn-train", "cnn-evaluate", "test-cnn-accuracy",
    "predict", "predictions", "mistakes", "loop", "save", "check-submission",
})
"""Cells left out of the sandboxed run: they only train, evaluate, plot results or save (and the test
cells that need their results). Nothing a probe or a kept test cell uses is defined there."""


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
    models: keras_models.ModelsGrading
    step: keras_steps.StepProbe
    released: object
    options: GradingOptions

    @property
    def evaluation(self) -> keras_models.EvaluationSet:
        """The images the saved models are scored on."""
        return self.models.evaluation


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the step probe's inputs and the reference facts, once per batch."""
        import labkit

        solution, points = self.read_source(keras_models.graded_parts(MODELS) | {TRAIN_STEP})
        models = keras_models.models_grading(LAB, MODELS, solution, scratch, options, CLASSES, INPUT_SHAPE,
                                             lambda: evaluation_sets.official_test_set("mnist", "MNIST"))
        train_images, train_labels = labkit.data.load("mnist", "train")
        chosen = labkit.data.stratified_indices(train_labels, STEP_BATCH,
                                                seed=options.secret.seed(f"{LAB}/train-step/batch"))
        step = keras_steps.write_step_probe(scratch / "step", keras_models.prepare(train_images[chosen]),
                                            np.asarray(train_labels[chosen]), STEP_STARTS,
                                            options.secret.rng(f"{LAB}/train-step/starts"), reference_step)
        for folder in (scratch, models.evaluation.folder):
            sandbox.readable_by_all(folder)
        return Context(points, models, step, source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        graded = context.models.grade(copy, context.points, context.options.probe_limits)
        parts, fingerprints, runs = graded.parts(), graded.fingerprints, graded.runs
        probed = notebook_parts.ProbedPart(
            TRAIN_STEP, context.points[TRAIN_STEP], "train_step", f"one batch of {STEP_BATCH} images",
            context.step.cell_source(),
            lambda probe_out: keras_steps.train_step_part(TRAIN_STEP, context.points[TRAIN_STEP], context.step,
                                                          probe_out))
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.step.folders,
                                                          [probed], list(context.points), context.options, runs,
                                                          skip=SKIP)
        parts.update(probed_parts)
        ordered = tuple(parts[part] for part in context.points)
        return Graded(ordered, tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        models = {model.name: model.parts for model in MODELS}
        return comet_review.review_rows(results, models, COMET_MODELS)
