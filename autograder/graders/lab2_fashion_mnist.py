"""Grading lab 2 (Fashion-MNIST): one saved Keras CNN, how ``compile_and_fit`` trains, ``predicted_classes``,
the normalised confusion matrix and the pair of classes the CNN confuses most.

The graded cells of ``solutions/lab2-fashion-mnist`` and how each is judged here:

=============================  =====================================================
``test-cnn-model``             ``artifacts/cnn.keras``'s architecture vs the hidden test's spec
``test-training``              the weights the notebook's ``compile_and_fit`` leaves on a probe model,
                               vs the source notebook's ``compile_and_fit`` from the same start
``test-cnn-accuracy``          its accuracy on the official Fashion-MNIST test images vs the target
``test-predicted-classes``     the notebook's ``predicted_classes`` on the grader's probabilities
``test-normalized-confusion``  the notebook's ``normalized_confusion_matrix`` on label arrays drawn from
                               the run's secret, vs scikit-learn's ``confusion_matrix(normalize="true")``
``test-most-confused``         the pair ``MOST_CONFUSED`` that ``artifacts/metrics.json`` records, vs the
                               grader's own normalised matrix of ``cnn.keras``' predictions
=============================  =====================================================

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

**The normalised confusion matrix.** The probe
(``probes/lab2_normalized_confusion.py``) calls the student's function on three
cases drawn from the run's secret: ten unbalanced classes with one absent from
the true labels and one never predicted; more classes (``num_classes``) than the
labels use; a few dozen labels, most classes absent. Each returned matrix must
equal scikit-learn's ``confusion_matrix(labels=range(num_classes),
normalize="true")`` (computed here) to float64 rounding (:data:`CONFUSION_ATOL`):
rows that sum to 1, and a row of zeros for a class with no images, which is
what scikit-learn gives (no NaN, no warning). A function that calls
scikit-learn itself is accepted: the grader does not police libraries, and the
cases still need ``labels=`` right. A function right only on the lab's own
test labels fails on the grader's.

**The most confused pair.** The answer is the student's data, not the
sandbox's: the two class names the notebook's save cell writes to
``artifacts/metrics.json``, read (bounded, no links) before the notebook runs
here, so nothing in this run, where the quick profile trains another model,
can change it. It is checked against the grader's own matrix, normalised by
the true class, of the predictions ``cnn.keras`` made on the images the
accuracy is scored on (the originals, not the perturbed copies), and only for a
file that passed its architecture check. The pair of the largest share off the
diagonal is accepted, and so is any pair within ``NEAR_TIE`` of it (from
:mod:`labkit.settings`, where the notebook's own check reads its tolerance too):
near ties, and the few images whose prediction may differ between machines, do
not decide a grade.

The notebook is run without the cells that only train, evaluate, plot results
or save (``SKIP``): the model is graded from ``artifacts/``, the most confused
pair from ``metrics.json``, and the probes need only the cells that define the
functions they call.
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
from autograder.pipeline.results import Graded, PartResult, headline, judged, not_judged
from autograder.sandbox import output as sandbox_output
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
NORMALIZED_CONFUSION = "test-normalized-confusion"
MOST_CONFUSED = "test-most-confused"
SKIP = frozenset({
    "look", "train", "test-training", "evaluate", "test-cnn-accuracy", "predict", "confusion", "recall",
    "most-confused", "test-most-confused", "shirt-mistakes", "save", "check-submission",
})
"""Cells left out of the sandboxed run: they only train, evaluate, plot results or save (and the test
cells that need their results). Nothing a probe or a kept test cell uses is defined there."""
PROBABILITY_ROWS = 400
TRAINING_IMAGES = (300, 700)
"""The probe's training set holds this many copies of its image, drawn from the run's secret."""
WEIGHTS_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}
"""Two runs of the same recipe agree to float32 rounding; one step of another recipe moves weights by ~1e-3."""
CONFUSION_ATOL = {8: 1e-9, 4: 1e-6}
"""How far a returned matrix may be from scikit-learn's, by its floats' size: float64 rounding, or float32's.
One image more or less in a row of the probe's cases moves a cell by more than 1e-3."""
MAX_METRICS_BYTES = 2**20
"""``artifacts/metrics.json`` as the save cell writes it is a few kilobytes."""


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
class ConfusionCase:
    """One call of the student's ``normalized_confusion_matrix`` and scikit-learn's answer to it."""

    true: np.ndarray
    predicted: np.ndarray
    classes: int
    expected: np.ndarray

    @property
    def described(self) -> str:
        return f"{len(self.true):,} labels and num_classes={self.classes}"


def confusion_labels(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Three (true, predicted, num_classes) cases drawn from ``rng`` (the run's secret).

    Ten unbalanced classes, one of them absent from the true labels and another
    never predicted; labels of ten classes with ``num_classes`` of 12 to 15 (and
    one of the ten absent); a few dozen labels, where most classes are missing.
    """

    def unbalanced(size: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
        frequencies = rng.permutation(1.0 / np.arange(1, classes + 1) ** 1.2)
        absent, unpredicted = rng.choice(classes, size=2, replace=False)
        frequencies[absent] = 0.0
        true = rng.choice(classes, size=size, p=frequencies / frequencies.sum())
        others = np.setdiff1d(np.arange(classes), [unpredicted])
        predicted = np.where(rng.random(size) < 0.7, true, rng.choice(others, size=size))
        never = predicted == unpredicted  # right answers for that class become mistakes
        predicted[never] = rng.choice(others, size=int(never.sum()))
        return true.astype(np.int64), predicted.astype(np.int64)

    tiny = int(rng.integers(12, 30))
    return [(*unbalanced(int(rng.integers(1500, 2500)), CLASSES), CLASSES),
            (*unbalanced(int(rng.integers(600, 1000)), CLASSES), CLASSES + int(rng.integers(2, 6))),
            (rng.integers(0, CLASSES, tiny), rng.integers(0, CLASSES, tiny), CLASSES)]


def reference_confusion(true: np.ndarray, predicted: np.ndarray, classes: int,
                        normalize: str | None = "true") -> np.ndarray:
    """scikit-learn's confusion matrix over ``range(classes)``, normalised as asked (float64)."""
    from sklearn import metrics

    return metrics.confusion_matrix(true, predicted, labels=np.arange(classes), normalize=normalize).astype(float)


def confusion_cases(rng: np.random.Generator) -> list[ConfusionCase]:
    return [ConfusionCase(true, predicted, classes, reference_confusion(true, predicted, classes))
            for true, predicted, classes in confusion_labels(rng)]


def write_confusion_inputs(folder: Path, cases: list[ConfusionCase]) -> None:
    np.savez(folder / "confusion-labels.npz", **{f"{kind}_{k}": value for k, case in enumerate(cases)
                                                  for kind, value in (("true", case.true),
                                                                      ("predicted", case.predicted),
                                                                      ("classes", np.int64(case.classes)))})


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    models: keras_models.ModelsGrading
    probes: notebook_run.ProbeFolders
    probabilities: np.ndarray
    training: TrainingRun
    confusion: list[ConfusionCase]
    class_names: tuple[str, ...]
    near_tie: float  # NEAR_TIE, as the notebook's test-most-confused cell reads it from labkit.settings
    released: object
    options: GradingOptions

    @property
    def evaluation(self) -> keras_models.EvaluationSet:
        """The images the saved CNN is scored on."""
        return self.models.evaluation


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and the reference facts, once per batch."""
        import labkit

        solution, points = self.read_source({CNN.model_part, CNN.accuracy_part, TRAINING, PREDICTED_CLASSES,
                                             NORMALIZED_CONFUSION, MOST_CONFUSED})
        models = keras_models.models_grading(
            LAB, (CNN,), solution, scratch, options, CLASSES, INPUT_SHAPE,
            lambda: evaluation_sets.official_test_set("fashion-mnist", "Fashion-MNIST"))
        folders = notebook_run.probe_folders(scratch, [probes.PREDICTED_CLASSES, probes.COMPILE_AND_FIT,
                                                      probes.LAB2_NORMALIZED_CONFUSION])
        probabilities = probability_matrix(PROBABILITY_ROWS, options.secret.rng(f"{LAB}/predicted-classes"))
        np.save(folders.inputs / "probabilities.npy", probabilities, allow_pickle=False)
        training = reference_training(solution, options.secret.rng(f"{LAB}/training"))
        training.write_inputs(folders.inputs)
        confusion = confusion_cases(options.secret.rng(f"{LAB}/normalized-confusion"))
        write_confusion_inputs(folders.inputs, confusion)
        for folder in (scratch, models.evaluation.folder):
            sandbox.readable_by_all(folder)
        return Context(points, models, folders,
                       probabilities, training, confusion, tuple(labkit.data.class_names("fashion-mnist")),
                       float(labkit.settings.value(LAB, "NEAR_TIE", options.profile)),
                       source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        runs, points = {}, context.points
        # The answer is read as handed in, before the notebook runs in the same folder and could rewrite it.
        answer = recorded_answer(copy, context.class_names)
        models = context.models.grade(copy, points, context.options.probe_limits)
        graded = models.by_name[CNN.name]
        runs.update(models.runs)
        parts = models.parts()
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
            notebook_parts.ProbedPart(
                NORMALIZED_CONFUSION, points[NORMALIZED_CONFUSION], "normalized_confusion_matrix",
                f"{len(context.confusion)} sets of labels",
                notebook_parts.probe_cell("your normalized_confusion_matrix on the grader's labels.",
                                          "normalized_confusion_matrix",
                                          context.probes.scripts / probes.LAB2_NORMALIZED_CONFUSION.name),
                lambda probe_out: normalized_confusion_part(NORMALIZED_CONFUSION, points[NORMALIZED_CONFUSION],
                                                            context.confusion, probe_out)),
        ]
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.probes,
                                                          probed, list(points), context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        parts[MOST_CONFUSED] = most_confused_part(MOST_CONFUSED, points[MOST_CONFUSED], answer, graded,
                                                  context.evaluation, context.class_names, context.near_tie)
        return Graded(tuple(parts[part] for part in points), tests, tuple(notes), models.fingerprints, runs)

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


def normalized_confusion_part(part: str, points: float, cases: list[ConfusionCase],
                              probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """Each returned matrix against scikit-learn's; the bool says whether anything came back."""
    budget = sum(case.classes ** 2 * 8 for case in cases) + 4096 * len(cases) + 65536
    try:
        stored = probe_out.read_arrays("matrices.npz", budget, max_arrays=len(cases))
    except FileNotFoundError:
        return judged(part, points, False, "normalized_confusion_matrix gave no matrices back."), False
    except OutputRefused as error:
        return judged(part, points, False, f"normalized_confusion_matrix's result is not usable: {error}"), True
    threshold = f"{len(cases)} of {len(cases)} label sets"
    for k, case in enumerate(cases):
        matrix = stored.get(f"arr_{k}")
        problem = "it returned nothing" if matrix is None else confusion_problem(matrix, case)
        if problem is not None:
            return judged(part, points, False, f"For {case.described}, normalized_confusion_matrix is wrong: "
                          f"{problem}", value=f"{k} of {len(cases)} label sets", threshold=threshold), True
    return judged(part, points, True, f"normalized_confusion_matrix gives scikit-learn's confusion_matrix(..., "
                  f"normalize=\"true\") on all {len(cases)} of the grader's label sets "
                  f"({'; '.join(case.described for case in cases)}): rows that sum to 1, a row of zeros for a "
                  "class with no images, a column for every class.", value=threshold, threshold=threshold), True


def confusion_problem(matrix: np.ndarray, case: ConfusionCase) -> str | None:
    """What is wrong with ``matrix`` as the normalised confusion matrix of ``case``, or None (pure)."""
    classes, expected = case.classes, case.expected
    if matrix.shape != expected.shape:
        used = int(max(case.true.max(initial=0), case.predicted.max(initial=0))) + 1
        hint = (f" (one per class the labels use, {used}: use num_classes)" if matrix.shape == (used, used)
                else "")
        return (f"its shape is {matrix.shape}, not ({classes}, {classes}): one row (true class) and one column "
                f"(predicted class) for each of the num_classes classes, including those that never occur{hint}.")
    values = matrix.astype(float)
    if not np.all(np.isfinite(values)):
        return ("it holds NaN or infinite values. A class with no images has nothing to divide by: its row is "
                "all zeros, as scikit-learn gives it.")
    atol = CONFUSION_ATOL.get(matrix.dtype.itemsize, 1e-9) if matrix.dtype.kind == "f" else 1e-9
    if np.allclose(values, expected, rtol=0, atol=atol):
        return None
    counts = reference_confusion(case.true, case.predicted, classes, None)
    for other, what in (
            (counts, "it holds counts of images: divide each row by its class's number of images"),
            (reference_confusion(case.true, case.predicted, classes, "pred"),
             "it divides each column by the number of images predicted as that class (normalize=\"pred\"); "
             "divide each row by the number of images of its true class"),
            (reference_confusion(case.true, case.predicted, classes, "all"),
             "it divides by the number of all images (normalize=\"all\"); divide each row by the number of "
             "images of its true class"),
            (expected.T, "its rows are the predicted classes and its columns the true ones; rows are true classes"),
            (_row_shares(counts > 0), "it counts each (true, predicted) pair once however often it occurs, as "
             "counts[y_true, y_pred] += 1 does; np.add.at(counts, (y_true, y_pred), 1) counts every image")):
        if np.allclose(values, other, rtol=0, atol=atol):
            return f"{what}."
    wrong = ~np.isclose(values, expected, rtol=0, atol=atol)
    present = counts.sum(axis=1) > 0
    sums = values.sum(axis=1)
    detail = ""
    if not np.allclose(sums[present], 1.0, rtol=0, atol=1e-6):
        detail = " The rows of the classes that occur must each sum to 1."
    elif np.any(np.abs(values[~present]) > atol):
        detail = " The rows of classes with no images must be zeros."
    return (f"{int(wrong.sum())} of its {classes * classes} cells differ from scikit-learn's, by up to "
            f"{float(np.max(np.abs(values - expected))):.3g}.{detail}")


def _row_shares(counts: np.ndarray) -> np.ndarray:
    counts = counts.astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


class RecordError(ValueError):
    """``metrics.json`` records no usable answer; the message says what to fix."""


def recorded_answer(copy: Path, class_names: tuple[str, ...]) -> tuple[str, str] | RecordError:
    """The ``(true, predicted)`` pair the save cell wrote to ``artifacts/metrics.json``, or why there is none.

    Read as data (no links, a size cap, bounded JSON) from the submission as
    handed in, before any of its code runs.
    """
    try:
        metrics = sandbox_output.read_json(copy, "artifacts/metrics.json", MAX_METRICS_BYTES)
    except FileNotFoundError:
        return RecordError("artifacts/metrics.json is missing, and it holds your answer: set MOST_CONFUSED, run "
                           "the save cell and hand in the artifacts/ folder.")
    except OutputRefused as error:
        return RecordError(f"artifacts/metrics.json was not read: {error}")
    pair = metrics.get("most_confused") if isinstance(metrics, dict) else None
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(name, str) for name in pair)):
        return RecordError("artifacts/metrics.json records no answer (most_confused, the two class names of "
                           "MOST_CONFUSED): answer the exercise, then run the save cell again.")
    unknown = [name for name in pair if name not in class_names]
    if unknown:
        return RecordError(f"MOST_CONFUSED names {unknown[0][:40]!r}, which is not a Fashion-MNIST class; use the "
                           f"names in class_names: {', '.join(class_names)}.")
    return pair[0], pair[1]


def confused_pairs(matrix: np.ndarray, near_tie: float) -> tuple[float, list[tuple[int, int]]]:
    """The largest share off the diagonal, and every (true, predicted) pair within ``near_tie`` of it,
    largest first (pure)."""
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, 0.0)
    top = float(mistakes.max())
    close = [(int(i), int(j)) for i, j in np.argwhere(mistakes >= top - near_tie) if i != j and mistakes[i, j] > 0]
    return top, sorted(close, key=lambda pair: (-mistakes[pair], pair))


def most_confused_part(part: str, points: float, answer: tuple[str, str] | RecordError,
                       graded: keras_models.GradedModel, evaluation: keras_models.EvaluationSet,
                       class_names: tuple[str, ...], near_tie: float) -> PartResult:
    """The recorded pair against the grader's normalised confusion matrix of the saved CNN."""
    if isinstance(answer, RecordError):
        return judged(part, points, False, str(answer))
    if graded.model_part.verdict != "pass":
        return judged(part, points, False, f"Your answer is checked against the confusion matrix of your saved "
                      f"CNN, counted only for a model that passes its architecture check: fix {CNN.model_part} "
                      f"first ({headline(graded.model_part.message)}).")
    predictions = graded.found.predictions
    if predictions is None:
        reason = graded.found.problem or "The model gave no predictions."
        message = f"Your answer could not be checked against your saved CNN's predictions: {reason}"
        if graded.found.verdict == "fail":
            return judged(part, points, False, message)
        return not_judged(part, points, graded.found.verdict, message)
    originals = np.ones(len(evaluation.labels), dtype=bool) if evaluation.copied is None else ~evaluation.copied
    matrix = reference_confusion(evaluation.labels[originals], predictions[originals].argmax(axis=1), CLASSES)
    top, accepted = confused_pairs(matrix, near_tie)
    true_name, predicted_name = answer
    true, predicted = class_names.index(true_name), class_names.index(predicted_name)
    share = float(matrix[true, predicted])
    named = f"{true_name} → {predicted_name}"
    listed = ", ".join(f"{class_names[i]} → {class_names[j]} ({matrix[i, j]:.1%})" for i, j in accepted)
    rule = (f"the largest share off the diagonal is {top:.1%}, and every pair within {near_tie * 100:.3g} "
            f"point{'s' if near_tie * 100 != 1 else ''} of it counts: {listed}")
    value, threshold = f"{named}: {share:.1%}", f"at least {max(top - near_tie, 0):.1%}"
    if not accepted:
        return judged(part, points, True, f"Your saved CNN makes no mistake on {evaluation.description}, so no "
                      "pair is confused; any answer counts.", value=value, threshold=threshold)
    where = f"on {evaluation.description}, your saved CNN predicts {share:.1%} of the {true_name} images as " \
            f"{predicted_name}"
    if true == predicted:
        return judged(part, points, False, f"You named {true_name} twice: the diagonal holds the right answers, and "
                      f"the question asks for a mistake. {rule[0].upper()}{rule[1:]}.", value=value,
                      threshold=threshold)
    if (true, predicted) in accepted:
        return judged(part, points, True, f"{named}: {where}; {rule}.", value=value, threshold=threshold)
    return judged(part, points, False, f"You named {named}, but {where}: {rule}. Rows are the true class, "
                  "columns the predicted one.", value=value, threshold=threshold)
