"""Grading lab 4 (EMNIST ByMerge): two saved Keras models and three functions judged by what they do.

The graded cells of ``solutions/lab4-emnist-baselines`` and how each is judged here:

=========================  ===========================================================================
``test-upright``           the notebook's ``upright`` on random uint8 images (N, 28, 28) made by the
                           grader, against their transpose
``test-dense-model``       ``artifacts/dense.keras``'s architecture vs the hidden test's spec
``test-early-stopping``    the student's own callback, as ``early_stopping()`` returns it, driven through
                           sequences of epoch logs on a tiny model: the epoch it stops after and the
                           weights it leaves, against Keras' ``EarlyStopping(monitor="val_loss",
                           patience=PATIENCE, restore_best_weights=True)`` driven through the same logs
``test-dense-accuracy``    ``dense.keras``'s accuracy on the evaluation images vs the target
``test-cnn-model``         ``artifacts/cnn.keras``'s architecture
``test-cnn-accuracy``      its accuracy
``test-class-weights``     the notebook's ``balanced_class_weights`` on unbalanced labels made by the
                           grader, against scikit-learn's ``compute_class_weight("balanced")``
=========================  ===========================================================================

**The evaluation images** are the test part of labkit's offline partition of
the official ByMerge test set (23,265 images), whatever data the grader's
machine has. That part is disjoint from the official train set *and* from the
partition's train part, so it is unseen by every model the notebook can train,
on whichever data the student had; the official test set is not (80% of it is
the partition's train part). On the official data it is a stratified fifth of
the official test set, so it measures the same accuracy, to a few tenths of a
point, and it takes a fifth of the time to predict.
An instructor's private set (``--evaluation``, :mod:`autograder.scoring.evaluation_sets`)
replaces it.

**PATIENCE** is the notebook's own, from :mod:`labkit.settings`, in the profile the
notebook runs in inside the sandbox (the quick one), where the probe calls ``early_stopping``.

The notebook is run without the cells that only train, evaluate, plot results
or save (``SKIP``): the models are graded from ``artifacts/``. A probed part
passes only when that run and its probe cell went to their end (see
:func:`autograder.pipeline.notebook_parts.probe_finished`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, notebook_run, source
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded, PartResult, judged
from autograder.sandbox.output import OutputFolder, OutputRefused
from autograder.scoring import evaluation_sets, keras_models
from autograder.scoring.keras_models import SavedModel

LAB = "lab4-emnist-baselines"
DATASET = "emnist-bymerge"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 47
MODELS = (  # each named as in artifacts/metrics.json and labkit.targets
    SavedModel("dense", "test-dense-model", "test-dense-accuracy", "The dense network"),
    SavedModel("cnn", "test-cnn-model", "test-cnn-accuracy", "The CNN"),
)
COMET_MODELS = {"dense 256-128": "dense", "cnn 32-64-64, batch normalisation": "cnn"}
"""The ``model`` parameter of the notebook's Comet runs -> the model it trained (the class-weighted
dense network is not saved, so it has no measured accuracy to compare with)."""
UPRIGHT = "test-upright"
EARLY_STOPPING = "test-early-stopping"
CLASS_WEIGHTS = "test-class-weights"
SKIP = frozenset({
    "rotation-figure", "dense-train", "dense-evaluate", "test-dense-accuracy", "cnn-train", "cnn-evaluate",
    "test-cnn-accuracy", "confusion", "confused", "predictions", "mistakes", "weighted-train", "save",
    "check-submission",
})
"""Cells left out of the sandboxed run: they only train, evaluate, plot results or save (and the test
cells that need their results). Nothing a probe or a kept test cell uses is defined there."""

UPRIGHT_IMAGES = 16
LABEL_COUNT_RANGE = (1, 400)  # images per class in the class-weight probe's labels: rare to common
UPRIGHT_PROBE = probes.FOLDER / "lab4_upright.py"
EARLY_STOPPING_PROBE = probes.FOLDER / "lab4_early_stopping.py"
CLASS_WEIGHTS_PROBE = probes.FOLDER / "lab4_class_weights.py"


def held_out_set() -> evaluation_sets.Images:
    """The images and labels the models are scored on by default: the offline partition's test part."""
    from labkit.data import partition

    images, labels = partition.load(DATASET, "test")
    return evaluation_sets.Images(images, labels, f"the {len(labels):,} held-out EMNIST ByMerge images "
                                  "(the test part of labkit's offline partition)")


# --- the probes' inputs and the grader's own references (pure) ------------------------------------


def probe_patience() -> int:
    """The notebook's PATIENCE where the probe calls ``early_stopping()``: in the sandboxed run's profile."""
    import labkit

    return int(labkit.settings.value(LAB, "PATIENCE", notebook_run.GRADING_ENVIRONMENT["LABKIT_PROFILE"]))


def stored_images(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random uint8 images (count, 28, 28): no symmetry, so only the transpose turns them "upright"."""
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def unbalanced_labels(classes: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled int64 labels in which every class occurs, between 1 and a few hundred times."""
    low, high = LABEL_COUNT_RANGE
    counts = np.unique(np.geomspace(low, high, classes).round().astype(int))  # distinct sizes
    counts = np.concatenate([counts, rng.integers(low, high, classes - len(counts))])[rng.permutation(classes)]
    labels = np.repeat(np.arange(classes), counts)
    return labels[rng.permutation(len(labels))].astype(np.int64)


def reference_class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """scikit-learn's balanced weights, n / (classes x n_c), one per class."""
    from sklearn.utils.class_weight import compute_class_weight

    return compute_class_weight("balanced", classes=np.arange(classes), y=labels)


def epoch_logs(patience: int, rng: np.random.Generator) -> list[list[dict]]:
    """Sequences of epoch logs for the early-stopping probe, each one lesson of the exercise, in random order.

    The training loss always falls and the validation accuracy always rises, so
    a callback that monitors either never stops; only ``val_loss`` turns. Where
    it turns, by how much and from where are drawn from the run's secret.
    """

    def logs(val_losses):
        return [{"loss": 1.0 - 0.04 * epoch, "accuracy": 0.5 + 0.02 * epoch, "val_loss": round(float(value), 6),
                 "val_accuracy": 0.5 + 0.01 * epoch} for epoch, value in enumerate(val_losses)]

    def improving(start, epochs):
        return list(start - np.cumsum(rng.uniform(0.02, 0.1, epochs)))

    def worse_than(best, epochs):
        return list(best + np.cumsum(rng.uniform(0.005, 0.03, epochs)))

    start = float(rng.uniform(0.8, 1.5))
    turning = [start, *improving(start, int(rng.integers(1, 5)))]
    paused = [start, *improving(start, int(rng.integers(0, 3)))]
    paused += worse_than(paused[-1], patience - 1)
    paused += improving(min(paused), 1)
    lessons = [
        logs(turning + worse_than(turning[-1], patience + 3)),  # improves, then turns up for good
        logs(paused + worse_than(paused[-1], patience + 3)),  # a pause, not the end
        logs([start, *worse_than(start, patience + 2)]),  # the first epoch is the best
        logs(start - np.cumsum(rng.uniform(5e-5, 2e-4, patience + 5))),  # small improvements all along: never stops
    ]
    return [lessons[k] for k in rng.permutation(len(lessons))]


def reference_early_stopping(patience: int, sequences: list[list[dict]]) -> list[dict]:
    """What Keras' own EarlyStopping, as the exercise asks for it, does through ``sequences``."""
    import keras

    from autograder.probes.lab4_early_stopping import facts_while_driven

    return facts_while_driven(lambda: keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True), sequences)


@dataclass(frozen=True)
class Probes:
    """The batch's probe folders, their inputs (drawn from the run's secret) and the references for them."""

    folders: notebook_run.ProbeFolders
    stored: np.ndarray
    patience: int
    sequences: list[list[dict]]
    expected_stops: list[dict]
    labels: np.ndarray
    expected_weights: np.ndarray


def write_probes(scratch: Path, patience: int, secret: GradingSecret) -> Probes:
    """The three probe scripts and their inputs, drawn from the run's secret, under ``scratch``; the references."""
    folders = notebook_run.probe_folders(scratch, [UPRIGHT_PROBE, EARLY_STOPPING_PROBE, CLASS_WEIGHTS_PROBE])
    stored = stored_images(UPRIGHT_IMAGES, secret.rng(f"{LAB}/upright"))
    labels = unbalanced_labels(CLASSES, secret.rng(f"{LAB}/class-weights"))
    sequences = epoch_logs(patience, secret.rng(f"{LAB}/early-stopping"))
    np.save(folders.inputs / "stored.npy", stored, allow_pickle=False)
    np.save(folders.inputs / "labels.npy", labels, allow_pickle=False)
    (folders.inputs / "epoch_logs.json").write_text(json.dumps(sequences))
    return Probes(folders, stored, patience, sequences, reference_early_stopping(patience, sequences), labels,
                  reference_class_weights(labels, CLASSES))


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    models: keras_models.ModelsGrading
    probes: Probes
    released: object
    options: GradingOptions

    @property
    def evaluation(self) -> keras_models.EvaluationSet:
        """The images the saved models are scored on."""
        return self.models.evaluation


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and the reference results, once per batch."""
        graded = keras_models.graded_parts(MODELS) | {UPRIGHT, EARLY_STOPPING, CLASS_WEIGHTS}
        solution, points = self.read_source(graded)
        models = keras_models.models_grading(LAB, MODELS, solution, scratch, options, CLASSES, INPUT_SHAPE,
                                             held_out_set)
        probed = write_probes(scratch, probe_patience(), options.secret)
        for folder in (scratch, models.evaluation.folder):
            sandbox.readable_by_all(folder)
        return Context(points, models, probed, source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        graded = context.models.grade(copy, context.points, context.options.probe_limits)
        parts, fingerprints, runs = graded.parts(), graded.fingerprints, graded.runs
        probed_parts, tests, notes = notebook_parts.grade(
            copy, LAB, context.released, context.probes.folders, probed_parts_of(context), list(context.points),
            context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        return Graded(tuple(parts[part] for part in context.points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        models = {model.name: model.parts for model in MODELS}
        return comet_review.review_rows(results, models, COMET_MODELS)


def probed_parts_of(context: Context) -> list[notebook_parts.ProbedPart]:
    """The three parts judged by a probe cell appended to the notebook."""
    found, points = context.probes, context.points

    def cell(purpose: str, function: str, script: Path) -> str:
        return notebook_parts.probe_cell(purpose, function, found.folders.scripts / script.name)

    return [
        notebook_parts.ProbedPart(
            UPRIGHT, points[UPRIGHT], "upright", f"{len(found.stored)} images",
            cell("your upright on random images.", "upright", UPRIGHT_PROBE),
            lambda out: upright_part(UPRIGHT, points[UPRIGHT], found.stored, out)),
        notebook_parts.ProbedPart(
            EARLY_STOPPING, points[EARLY_STOPPING], "early_stopping",
            f"{len(found.sequences)} short sequences of epochs",
            cell("your early_stopping() driven through given validation losses.", "early_stopping",
                 EARLY_STOPPING_PROBE),
            lambda out: early_stopping_part(EARLY_STOPPING, points[EARLY_STOPPING], found, out)),
        notebook_parts.ProbedPart(
            CLASS_WEIGHTS, points[CLASS_WEIGHTS], "balanced_class_weights", f"{len(found.labels):,} labels",
            cell("your balanced_class_weights on unbalanced labels.", "balanced_class_weights",
                 CLASS_WEIGHTS_PROBE),
            lambda out: class_weights_part(CLASS_WEIGHTS, points[CLASS_WEIGHTS], found.labels,
                                           found.expected_weights, out)),
    ]


# --- judging what came back (each returns the result, and whether anything came back) ---------------


def _read_result(out: OutputFolder, name: str, max_bytes: int, read) -> tuple[object, str | None]:
    """``read(out, name, max_bytes)``, or why not (``(None, None)``: nothing came back)."""
    try:
        return read(out, name, max_bytes), None
    except FileNotFoundError:
        return None, None
    except OutputRefused as error:
        return None, str(error)


def upright_part(part: str, points: float, stored: np.ndarray, probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The images ``upright`` returned, against the transpose of each stored image."""
    turned, problem = _read_result(probe_out, "upright.npy", stored.size * 8 + 4096, OutputFolder.read_array)
    if turned is None:
        return judged(part, points, False, problem or "upright gave no images back."), problem is not None
    if turned.shape != stored.shape:
        return judged(part, points, False, f"For images of shape {stored.shape} upright returned shape "
                                           f"{turned.shape}: keep the shape (images, rows, columns)."), True
    if turned.dtype.kind not in "biuf":
        return judged(part, points, False, f"upright returned {turned.dtype} values, not pixel values."), True
    expected = stored.transpose(0, 2, 1)
    right = np.array([np.array_equal(t, e) for t, e in zip(turned, expected)])
    value, threshold = f"{int(right.sum())} of {len(stored)} images", f"{len(stored)} of {len(stored)} images"
    if right.all():
        return judged(part, points, True, f"upright turns all {len(stored)} random images upright: the i-th row "
                      "of each is the i-th column of the stored image.", value, threshold), True
    return judged(part, points, False, f"upright turns {int(right.sum())} of {len(stored)} random images upright; "
                  f"{_orientation_hint(stored, turned)} Undo the transposition: swap the rows and the columns "
                  "(np.transpose(stored, (0, 2, 1))).", value, threshold), True


def _orientation_hint(stored: np.ndarray, turned: np.ndarray) -> str:
    """What the wrong images are, when they are a familiar mistake."""
    mistakes = {"unchanged": stored, "rotated 90° anticlockwise": np.rot90(stored, 1, axes=(1, 2)),
                "rotated 90° clockwise": np.rot90(stored, -1, axes=(1, 2)),
                "mirrored left to right": stored[:, :, ::-1], "upside down": stored[:, ::-1, :]}
    for name, images in mistakes.items():
        if np.array_equal(turned, images):
            return f"the images it returns are the stored ones {name}, which never undoes a transposition."
    return "the images it returns are not the transposed ones."


def early_stopping_part(part: str, points: float, found: Probes, probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """Where the student's callback stopped and whose weights it kept, against Keras' EarlyStopping."""
    data, problem = _read_result(probe_out, "facts.json", 64 * 1024, OutputFolder.read_json)
    if data is None:
        return judged(part, points, False, problem or "early_stopping gave no result back."), problem is not None
    try:
        facts = read_stopping_facts(data, len(found.sequences))
    except ValueError as error:
        return judged(part, points, False, f"The probe's report on early_stopping is not valid ({error})."), True
    problems = stopping_problems(facts, found)
    runs = len(found.sequences)
    threshold = f"{runs} of {runs} runs"
    value = f"{sum(1 for got, want in zip(facts['runs'], found.expected_stops) if got == want)} of {runs} runs"
    if problems:
        return judged(part, points, False, " ".join(problems), value, threshold), True
    return judged(part, points, True, f"early_stopping() returns a new callback that, in {runs} runs of given "
                  f"validation losses, stops training {found.patience} epochs after the best epoch and restores "
                  "that epoch's weights, as EarlyStopping(monitor=\"val_loss\", patience=PATIENCE, "
                  "restore_best_weights=True) does.", value, threshold), True


def read_stopping_facts(data, runs: int) -> dict:
    """The probe's JSON, checked to be ``{"new_each_call": bool, "runs": [{stopped_after, weights_of}] * runs}``."""
    if not isinstance(data, dict) or not isinstance(data.get("new_each_call"), bool):
        raise ValueError("not a report")
    found = data.get("runs")
    if not isinstance(found, list) or len(found) != runs:
        raise ValueError(f"not {runs} runs")

    def epoch(value):
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and -1 <= value < 1000):
            return value
        raise ValueError("an epoch is not a small whole number")

    checked = []
    for run in found:
        if not isinstance(run, dict):
            raise ValueError("a run is not a mapping")
        checked.append({"stopped_after": epoch(run.get("stopped_after")), "weights_of": epoch(run.get("weights_of"))})
    return {"new_each_call": data["new_each_call"], "runs": checked}


def stopping_problems(facts: dict, found: Probes) -> list[str]:
    """Every way the student's callback behaved differently from the reference, in words (pure)."""
    problems = []
    if not facts["new_each_call"]:
        problems.append("early_stopping() returned the same callback twice; return a new one on each call.")
    stops_differ = weights_differ = False
    for number, (got, want, logs) in enumerate(zip(facts["runs"], found.expected_stops, found.sequences), 1):
        if got == want:
            continue
        losses = ", ".join(f"{epoch['val_loss']:g}" for epoch in logs)
        said = []
        if got["stopped_after"] != want["stopped_after"]:
            stops_differ = True
            said.append(f"it stopped training {_stop(got['stopped_after'])} instead of "
                        f"{_stop(want['stopped_after'])}")
        if got["weights_of"] != want["weights_of"]:
            weights_differ = True
            said.append(f"it left the model with {_weights(got['weights_of'])} instead of "
                        f"{_weights(want['weights_of'])}")
        problems.append(f"Run {number}, validation losses {losses}: {' and '.join(said)}.")
    if stops_differ:
        problems.append(f"Count the epochs since the lowest val_loss (an equal loss is no improvement) and set "
                        f"model.stop_training once PATIENCE ({found.patience}) of them have passed.")
    if weights_differ:
        problems.append("Keep the weights of the epoch with the lowest val_loss and put them back in on_train_end, "
                        "whether or not the callback stopped training.")
    return problems


def _stop(epoch: int | None) -> str:
    return "never" if epoch is None else f"after epoch {epoch + 1}"


def _weights(epoch: int | None) -> str:
    if epoch is None:
        return "weights of no epoch"
    return "its initial weights" if epoch == -1 else f"the weights of epoch {epoch + 1}"


def class_weights_part(part: str, points: float, labels: np.ndarray, expected: np.ndarray,
                       probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The weights ``balanced_class_weights`` returned, against scikit-learn's balanced weights."""
    classes = len(expected)
    pairs, problem = _read_result(probe_out, "weights.json", classes * 64 + 4096, OutputFolder.read_json)
    if pairs is None:
        return judged(part, points, False, problem or "balanced_class_weights gave no weights back."), \
            problem is not None
    try:
        weights = read_class_weights(pairs, classes)
    except ValueError as error:
        return judged(part, points, False, f"balanced_class_weights' result is not usable: {error}."), True
    counts = np.bincount(labels, minlength=classes)
    wrong = ~np.isclose(weights, expected, rtol=1e-6, atol=0)
    value, threshold = f"{classes - int(wrong.sum())} of {classes} classes", f"{classes} of {classes} classes"
    if not wrong.any():
        return judged(part, points, True, f"balanced_class_weights gives all {classes} classes of labels made by "
                      f"the grader (from {counts.min()} to {counts.max()} images per class) their balanced "
                      "weight n / (classes x n_c).", value, threshold), True
    rare, common = int(np.argmin(counts)), int(np.argmax(counts))
    message = (f"balanced_class_weights is wrong for {int(wrong.sum())} of {classes} classes of labels made by the "
               f"grader: class {rare} ({counts[rare]} of {len(labels):,} images) gets {weights[rare]:.4g}, not "
               f"{expected[rare]:.4g}; class {common} ({counts[common]} images) gets {weights[common]:.4g}, not "
               f"{expected[common]:.4g}. {_weights_hint(weights, expected)}The balanced weight of class c is "
               "n / (N_CLASSES x n_c), for n labels of which n_c are c (np.bincount(labels, minlength=N_CLASSES)): "
               "weight x images is then the same for every class, and the weights average 1 over the images.")
    return judged(part, points, False, message, value, threshold), True


def read_class_weights(pairs, classes: int) -> np.ndarray:
    """The probe's ``[[class, weight], ...]`` as one weight per class 0..classes-1, each finite."""
    if not isinstance(pairs, list) or len(pairs) > 10 * classes:
        raise ValueError("not a list of (class, weight) pairs")
    weights: dict[int, float] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)
                and isinstance(pair[1], int | float) and not isinstance(pair[1], bool)):
            raise ValueError("not a list of (class, weight) pairs")
        weights[pair[0]] = float(pair[1])
    if sorted(weights) != list(range(classes)):
        raise ValueError(f"it must map every class from 0 to {classes - 1}, and nothing else, to a weight "
                         f"(it has {len(weights)} keys)")
    values = np.array([weights[c] for c in range(classes)])
    if not np.all(np.isfinite(values)):
        raise ValueError("some weights are not finite numbers")
    return values


def _weights_hint(weights: np.ndarray, expected: np.ndarray) -> str:
    """A familiar mistake, named: the weights upside down, or not scaled."""
    if np.allclose(weights * expected, (weights * expected)[0], rtol=1e-4):
        return "The weights are inverted: rarer classes must weigh more, not less. "
    ratio = weights / expected
    if np.allclose(ratio, ratio[0], rtol=1e-4) and not math.isclose(ratio[0], 1.0, rel_tol=1e-4):
        return f"The weights are proportional to the balanced ones but {ratio[0]:.4g} times as large. "
    return ""
