"""Grading lab 2 (Fashion-MNIST): one saved Keras CNN, how ``compile_and_fit`` trains, and ``predicted_classes``.

The graded cells of ``solutions/lab2-fashion-mnist`` and how each is judged here:

==========================  ========================================================
``test-cnn-model``          ``artifacts/cnn.keras``'s architecture vs the hidden test's spec
``test-training``           the weights the notebook's ``compile_and_fit`` leaves on a probe model,
                            vs the source notebook's ``compile_and_fit`` from the same start
``test-cnn-accuracy``       its accuracy on the official Fashion-MNIST test images vs the target
``test-predicted-classes``  the notebook's ``predicted_classes`` on the grader's probabilities
==========================  ========================================================

**Why ``test-training`` is judged by a probe, not from the model file.** What a
``.keras`` file says of its training (the compile configuration, the
optimizer's step counter) is data the student can write without training. So
the probe (``probes/compile_and_fit.py``) runs the student's own
``compile_and_fit`` on a small model, from starting weights and on an image
drawn from the grading run's secret, and the grader runs the source notebook's
``compile_and_fit`` (the quick profile's settings, as in the sandbox) from the
same start. The weights must agree: that takes Adam, the cosine schedule from
``CNN_LEARNING_RATE`` and the sparse cross-entropy, for the schedule's steps. The
step count and the history's epochs, batches and validation scores must be the
reference run's too (data from the student's process, checked, never believed
alone). That the full training went well is what the accuracy part measures.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, notebook_run, source
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded, PartResult, judged
from autograder.sandbox.output import OutputFolder, OutputRefused
from autograder.scoring import evaluation_sets, keras_models
from autograder.scoring.keras_models import SavedModel

LAB = "lab2-fashion-mnist"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
CNN = SavedModel("cnn", "test-cnn-model", "test-cnn-accuracy", "The CNN")
COMET_MODELS = {"cnn, batch normalisation, flips": "cnn"}
"""The ``model`` parameter of the notebook's Comet run -> the model it trained."""
TRAINING = "test-training"
PREDICTED_CLASSES = "test-predicted-classes"
PROBABILITY_ROWS = 400
TRAINING_IMAGES = (300, 700)
"""The probe's training set holds this many copies of its image, drawn from the run's secret."""
WEIGHTS_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}
"""Two runs of the same recipe agree to float32 rounding; one step of another recipe moves weights by ~1e-3."""


def probability_matrix(rows: int, rng: np.random.Generator) -> np.ndarray:
    """Probabilities over 10 classes, half of the rows hesitant (no value above 0.5), each with one clear maximum."""
    hesitant = rng.dirichlet(np.full(CLASSES, 3.0), size=rows // 2)  # flat: the maximum is rarely above 0.5
    confident = rng.dirichlet(np.full(CLASSES, 0.2), size=rows - rows // 2)
    matrix = np.concatenate([hesitant, confident])[rng.permutation(rows)]
    ordered = np.sort(matrix, axis=1)
    keep = ordered[:, -1] - ordered[:, -2] > 1e-3  # no near-ties: argmax is unambiguous
    return matrix[keep]


@dataclass(frozen=True)
class TrainingRun:
    """The training probe's inputs, drawn from the run's secret, and what the reference recipe made of them."""

    start: list[np.ndarray]
    image: np.ndarray
    label: int
    count: int
    after: list[np.ndarray]  # the weights the source notebook's compile_and_fit leaves
    run: dict  # its step count, epochs, batches per epoch, and that it validated

    def write_inputs(self, folder: Path) -> None:
        np.savez(folder / "start.npz", *self.start)
        np.savez(folder / "sample.npz", image=self.image, label=np.int64(self.label), count=np.int64(self.count))


def reference_training(solution, rng: np.random.Generator) -> TrainingRun:
    """Draw the probe's inputs and train the probe model with the source notebook's ``compile_and_fit``.

    The notebook runs in the sandbox with the quick profile's settings, so the
    reference does too.
    """
    import keras

    import labkit
    from autograder.probes.compile_and_fit import probe_model, trained

    compile_and_fit = source.solution_function(solution, "compile-and-fit", "compile_and_fit",
                                               {"keras": keras, "math": math, "np": np,
                                                "profile": labkit.profiles.Profile("quick")})
    shapes = [tuple(w.shape) for w in probe_model().get_weights()]
    start = [rng.normal(0.0, 0.05, shape).astype("float32") for shape in shapes]
    image = keras_models.prepare(rng.integers(0, 256, size=(1, 28, 28), dtype=np.uint8))[0]
    label, count = int(rng.integers(0, CLASSES)), int(rng.integers(*TRAINING_IMAGES))
    with contextlib.redirect_stdout(io.StringIO()):  # fit's progress lines
        after, run = trained(compile_and_fit, start, image, label, count)
    return TrainingRun(start, image, label, count, after, run)


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    check: source.ArchitectureCheck
    target: float
    evaluation: keras_models.EvaluationSet
    probes: notebook_run.ProbeFolders
    probabilities: np.ndarray
    training: TrainingRun
    released: object
    options: GradingOptions


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and the reference facts, once per batch."""
        import labkit

        solution, points = self.read_source({CNN.model_part, CNN.accuracy_part, TRAINING, PREDICTED_CLASSES})
        evaluation = keras_models.write_evaluation_set(scratch / "evaluation", evaluation_sets.images_for(
            options.evaluation_dir, LAB, CLASSES,
            lambda: evaluation_sets.official_test_set("fashion-mnist", "Fashion-MNIST")), CLASSES,
            options.secret.rng(f"{LAB}/perturbed-copies"))
        folders = notebook_run.probe_folders(scratch, [probes.PREDICTED_CLASSES, probes.COMPILE_AND_FIT])
        probabilities = probability_matrix(PROBABILITY_ROWS, options.secret.rng(f"{LAB}/predicted-classes"))
        np.save(folders.inputs / "probabilities.npy", probabilities, allow_pickle=False)
        training = reference_training(solution, options.secret.rng(f"{LAB}/training"))
        training.write_inputs(folders.inputs)
        for folder in (scratch, evaluation.folder):
            sandbox.readable_by_all(folder)
        return Context(points, source.architecture_check(solution, CNN.model_part),
                       labkit.targets.target(LAB, CNN.name, options.profile), evaluation, folders,
                       probabilities, training, source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        runs, points = {}, context.points
        graded = keras_models.grade_model(copy, CNN, points, context.check, context.target, context.evaluation,
                                          INPUT_SHAPE, context.options.probe_limits)
        runs["cnn model"] = graded.run
        parts = {CNN.model_part: graded.model_part, CNN.accuracy_part: graded.accuracy_part}
        probed = [
            notebook_parts.ProbedPart(
                TRAINING, points[TRAINING], "compile_and_fit",
                f"{context.training.count} images on a small model",
                notebook_parts.probe_cell("how your compile_and_fit trains a small model from the grader's start.",
                                          "compile_and_fit", context.probes.scripts / probes.COMPILE_AND_FIT.name),
                lambda probe_out: training_part(TRAINING, points[TRAINING], context.training, probe_out)),
            notebook_parts.ProbedPart(
                PREDICTED_CLASSES, points[PREDICTED_CLASSES], "predicted_classes",
                f"a matrix of {len(context.probabilities)} x {CLASSES} probabilities",
                notebook_parts.probe_cell("your predicted_classes on the grader's probabilities.",
                                          "predicted_classes", context.probes.scripts / probes.PREDICTED_CLASSES.name),
                lambda probe_out: predicted_classes_part(PREDICTED_CLASSES, points[PREDICTED_CLASSES],
                                                         context.probabilities, probe_out)),
        ]
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.probes,
                                                          probed, list(points), context.options, runs)
        parts.update(probed_parts)
        fingerprints = {CNN.name: graded.fingerprint} if graded.fingerprint is not None else {}
        return Graded(tuple(parts[part] for part in points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        return comet_review.review_rows(results, {CNN.name: CNN.parts}, COMET_MODELS)


# --- judging what came back ---------------------------------------------------------------------


def predicted_classes_part(part: str, points: float, probabilities: np.ndarray,
                           probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The returned classes against the argmax of each row; the bool says whether anything came back."""
    rows = len(probabilities)
    try:
        classes = probe_out.read_array("classes.npy", rows * 8 + 4096)
    except FileNotFoundError:
        return judged(part, points, False, "predicted_classes gave no classes back."), False
    except OutputRefused as error:
        return judged(part, points, False, f"predicted_classes' result is not usable: {error}"), True
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


def training_part(part: str, points: float, reference: TrainingRun,
                  probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The probe model's weights and run counts after the student's ``compile_and_fit``, against the reference's."""
    shapes = [w.shape for w in reference.after]
    try:
        stored = probe_out.read_arrays("after.npz", sum(w.nbytes for w in reference.after) * 2 + 65536,
                                       kinds="f", max_arrays=len(shapes))
        run = probe_out.read_json("run.json", 4096)
    except FileNotFoundError:
        return judged(part, points, False, "compile_and_fit's training of the probe model gave nothing back."), False
    except OutputRefused as error:
        return judged(part, points, False, f"compile_and_fit's result is not usable: {error}"), True
    after = [stored.get(f"arr_{i}") for i in range(len(shapes))]
    if len(stored) != len(shapes) or any(w is None or w.shape != shape for w, shape in zip(after, shapes)):
        return judged(part, points, False, "compile_and_fit changed the probe model's layers."), True
    problems = run_problems(run if isinstance(run, dict) else {}, reference.run)
    if not all(np.allclose(w, r, **WEIGHTS_TOLERANCE) for w, r in zip(after, reference.after)):
        problems.insert(0, "From the same starting weights on the same images, the weights after your "
                        "compile_and_fit differ from the exercise's: compile with keras.optimizers.Adam(schedule), "
                        "the sparse categorical cross-entropy, and fit with CNN_BATCH_SIZE, CNN_EPOCHS and "
                        "VALIDATION_SPLIT.")
    expected = f"{reference.run['iterations']} steps"
    value = f"{run.get('iterations')} steps" if isinstance(run, dict) else "unknown"
    if problems:
        return judged(part, points, False, " ".join(problems), value=value, threshold=expected), True
    return judged(part, points, True, f"From the grader's starting weights, your compile_and_fit trains a probe "
                  f"model on {reference.count} images exactly as the exercise's does: Adam with the cosine "
                  f"schedule and the sparse cross-entropy, {reference.run['epochs']} epochs of "
                  f"{reference.run['steps']} batches with validation.", value=value, threshold=expected), True


def run_problems(found: dict, expected: dict) -> list[str]:
    """How the counts the student's run reports differ from the reference run's (pure)."""
    problems = []
    for key, what in (("epochs", "epochs (CNN_EPOCHS)"), ("steps", "batches per epoch (CNN_BATCH_SIZE, "
                      "VALIDATION_SPLIT)"), ("iterations", "optimizer steps in all")):
        value = found.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value != expected[key]:
            problems.append(f"The run took {str(value)[:20]} {what}, not {expected[key]}.")
    if found.get("validated") is not True:
        problems.append("The history has no validation scores: pass validation_split=VALIDATION_SPLIT to fit.")
    return problems
