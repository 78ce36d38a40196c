"""Grading lab 3 (MNIST from the Kaggle CSV): one CNN trained three ways, the annealer, the augmentation.

The graded cells of ``solutions/lab3-annealing-augmentation`` and how each is judged here:

===========================  =====================================================================
``test-cnn-model``           ``artifacts/plain.keras``'s architecture vs the hidden test's spec
``test-plain-accuracy``      its accuracy on the official MNIST test images vs the target
``test-annealer``            the learning rates ``build_annealer()``'s callback sets through epochs
                             whose validation loss stalls, vs the reference callback's
``test-annealed-accuracy``   ``artifacts/annealed.keras``'s accuracy (it must be the same CNN)
``test-augmentation``        ``build_augmentation()``'s layers and settings vs the reference's, and
                             what it does to a batch in training and at inference
``test-augmented-accuracy``  ``artifacts/augmented.keras``'s accuracy (it must be the same CNN)
===========================  =====================================================================

The reference annealer and augmentation are the source notebook's own
solutions: the grader builds them from its cells, so the exercise's settings
have one home. The notebook's training cells are not run again: the three
models are graded from their files, and the sandboxed run only defines the
student's functions for the probes (and gives the student the feedback of the
test cells that do not need a trained model).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import (
    comet_review, evaluation_sets, keras_models, notebook_parts, notebook_run, probes, sandbox, source
)
from autograder.keras_models import SavedModel
from autograder.labs import LabGrader
from autograder.options import GradingOptions
from autograder.results import Graded, PartResult, judged

LAB = "lab3-annealing-augmentation"
INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
MODELS = (  # each named as in artifacts/metrics.json and labkit.targets; all three are build_cnn()'s CNN
    SavedModel("plain", "test-cnn-model", "test-plain-accuracy", "The plain CNN"),
    SavedModel("annealed", "test-cnn-model", "test-annealed-accuracy", "The CNN trained with annealing"),
    SavedModel("augmented", "test-cnn-model", "test-augmented-accuracy",
               "The CNN trained with annealing and augmentation"),
)
COMET_MODELS = {"cnn": "plain", "cnn + annealing": "annealed", "cnn + annealing + augmentation": "augmented"}
"""The ``model`` parameter of the notebook's Comet runs -> the model it trained."""
ANNEALER, AUGMENTATION = "test-annealer", "test-augmentation"
SKIP = frozenset({
    "plain-train", "test-plain-accuracy", "annealed-train", "test-annealed-accuracy", "augmented-train",
    "test-augmented-accuracy", "batch-losses", "results", "save",
})
"""Cells the grader's notebook run leaves out: they train, evaluate and save the models graded from files."""

INITIAL_RATE = 2e-3
EPOCH_LOGS = [  # the training loss keeps falling; the validation loss improves twice, then stalls
    {"loss": 1.0 - 0.05 * epoch, "val_loss": val_loss}
    for epoch, val_loss in enumerate([1.0, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7])
]
AUGMENTED_IMAGES = 64
FACTORS = ("factor", "height_factor", "width_factor")
"""Settings compared by their largest magnitude: 0.08 and (-0.08, 0.08) are the same range."""
SETTINGS = ("fill_mode", "fill_value", "interpolation")
MAX_LAYERS_BYTES = 64 * 2**10


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    check: source.ArchitectureCheck
    targets: dict[str, float]
    evaluation: keras_models.EvaluationSet
    probe_dir: Path
    reference_rates: np.ndarray
    reference_layers: list[dict]
    images: np.ndarray
    released: object
    options: GradingOptions


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and the reference annealer's and augmentation's results."""
        import keras

        import labkit

        solution, points = self.read_source(keras_models.graded_parts(MODELS) | {ANNEALER, AUGMENTATION})
        evaluation = keras_models.write_evaluation_set(scratch / "evaluation", evaluation_sets.images_for(
            options.evaluation_dir, LAB, CLASSES, lambda: evaluation_sets.official_test_set("mnist", "MNIST")),
            CLASSES)
        build_annealer = source.solution_function(solution, "annealer", "build_annealer", {"keras": keras})
        build_augmentation = source.solution_function(solution, "augmentation", "build_augmentation",
                                                      {"keras": keras})
        train_images, train_labels = labkit.data.load("mnist", "train")
        chosen = labkit.data.stratified_indices(train_labels, AUGMENTED_IMAGES, seed=3)
        images = keras_models.prepare(train_images[chosen])
        probe_dir = scratch / "probes"
        probe_dir.mkdir(parents=True)
        (probe_dir / "epoch_logs.json").write_text(json.dumps({"epoch_logs": EPOCH_LOGS,
                                                               "initial_rate": INITIAL_RATE}))
        np.save(probe_dir / "images.npy", images, allow_pickle=False)
        for script in (probes.ANNEALER, probes.AUGMENTATION):
            shutil.copyfile(script, probe_dir / script.name)
        notebook_run.install_runner(probe_dir)
        for folder in (scratch, evaluation.folder, probe_dir):
            sandbox.readable_by_all(folder)
        return Context(points, source.architecture_check(solution, "test-cnn-model"),
                       keras_models.model_targets(LAB, MODELS, options.profile),
                       evaluation, probe_dir, reference_rates(build_annealer),
                       layer_settings(build_augmentation()), images, source.read(self.released_notebook()),
                       options)

    def grade(self, copy: Path, context: Context) -> Graded:
        checks = {model.model_part: context.check for model in MODELS}  # one part: all three are build_cnn's
        models = keras_models.grade_models(copy, MODELS, context.points, checks, context.targets,
                                           context.evaluation, INPUT_SHAPE, context.options.probe_limits)
        plain = models.by_name["plain"]
        parts = {plain.model_part.part: plain.model_part, plain.accuracy_part.part: plain.accuracy_part}
        for name, graded in models.by_name.items():  # the architecture part is plain.keras'
            if name != "plain":
                parts[graded.accuracy_part.part] = only_for_the_cnn(graded.accuracy_part, graded.model_part,
                                                                    f"{name}.keras")
        fingerprints, runs = models.fingerprints, models.runs
        points = context.points
        probed = [
            notebook_parts.ProbedPart(
                ANNEALER, points[ANNEALER], "build_annealer", f"{len(EPOCH_LOGS)} epochs of a tiny model",
                notebook_parts.probe_cell("the learning rates your annealer sets while the validation loss "
                                          "stalls.", "build_annealer", context.probe_dir / probes.ANNEALER.name),
                lambda out: annealer_part(ANNEALER, points[ANNEALER], context.reference_rates, out)),
            notebook_parts.ProbedPart(
                AUGMENTATION, points[AUGMENTATION], "build_augmentation", f"a batch of {AUGMENTED_IMAGES} images",
                notebook_parts.probe_cell("your augmentation's layers, and what it does to a batch.",
                                          "build_augmentation", context.probe_dir / probes.AUGMENTATION.name),
                lambda out: augmentation_part(AUGMENTATION, points[AUGMENTATION], context.reference_layers,
                                              context.images, out)),
        ]
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.probe_dir, probed,
                                                          list(points), context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        return Graded(tuple(parts[part] for part in points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        models = {model.name: model.parts for model in MODELS}
        return comet_review.review_rows(results, models, COMET_MODELS)


# --- judging what came back ---------------------------------------------------------------------


def only_for_the_cnn(accuracy: PartResult, architecture: PartResult, file: str) -> PartResult:
    """An accuracy counts only for the lab's CNN: the three runs compare training, not architectures."""
    if accuracy.verdict != "pass" or architecture.verdict == "pass":
        return accuracy
    return judged(accuracy.part, accuracy.max_points, False,
                  f"{file} is not build_cnn's CNN, so its accuracy ({accuracy.value:.2%}) does not count. "
                  f"{architecture.message}", value=accuracy.value, threshold=accuracy.threshold)


def reference_rates(build_annealer) -> np.ndarray:
    """The reference annealer's learning rates through :data:`EPOCH_LOGS`, its messages kept off the grader's output."""
    from autograder.probes.annealer import rates_while_driven

    with contextlib.redirect_stdout(io.StringIO()):
        return rates_while_driven(build_annealer(), EPOCH_LOGS, INITIAL_RATE)


def layer_settings(augmentation) -> list[dict]:
    """``[{"class_name", "config"}]`` of an augmentation model's layers, as the probe reports them."""
    from autograder.probes.augmentation import plain

    layers = getattr(augmentation, "layers", [augmentation])
    return json.loads(json.dumps([{"class_name": type(layer).__name__, "config": layer.get_config()}
                                  for layer in layers], default=plain))


def annealer_part(part: str, points: float, reference: np.ndarray, probe_out: Path) -> tuple[PartResult, bool]:
    """The learning rate after each epoch against the reference annealer's; the bool: anything came back."""
    rates, problem = _read_array(probe_out / "rates.npy", reference.shape, reference.size * 8 + 4096)
    if rates is None:
        return judged(part, points, False, f"The annealer's learning rates: {problem}"), problem != "none came back"
    shown = ", ".join(f"{rate:.2g}" for rate in rates)
    wanted = ", ".join(f"{rate:.2g}" for rate in reference)
    if np.allclose(rates, reference, rtol=1e-4, atol=0.0):
        return judged(part, points, True, f"Through {len(reference)} epochs whose validation loss stalls, your "
                      f"annealer sets the learning rates {shown}, as the exercise's does.",
                      value=shown, threshold=wanted), True
    first = int(np.argmax(~np.isclose(rates, reference, rtol=1e-4, atol=0.0)))
    return judged(part, points, False, f"Through {len(reference)} epochs (training loss always falling, "
                  f"validation loss stalling after epoch 2 and after epoch 8) the learning rates should be "
                  f"{wanted}; yours are {shown}, first different after epoch {first + 1}. Check what it "
                  "monitors, factor, patience and min_lr.", value=shown, threshold=wanted), True


def augmentation_part(part: str, points: float, reference: list[dict], images: np.ndarray,
                      probe_out: Path) -> tuple[PartResult, bool]:
    """The layers' settings and the batches, against the reference augmentation and the exercise's rules."""
    layers, problem = _read_layers(probe_out / "layers.json")
    limit = images.nbytes + 4096
    training, training_problem = _read_array(probe_out / "training.npy", images.shape, limit)
    inference, inference_problem = _read_array(probe_out / "inference.npy", images.shape, limit)
    if layers is None or training is None or inference is None:
        reason = problem or training_problem or inference_problem
        came_back = (probe_out / "layers.json").exists()
        return judged(part, points, False, f"The augmentation could not be checked: {reason}"), came_back
    problems = layer_problems(layers, reference)
    problems += batch_problems(images, training, inference)
    changed = float(np.mean(np.abs(training - images) > 0.05))
    value = f"{changed:.0%} of pixels changed"
    if problems:
        return judged(part, points, False, " ".join(problems), value=value), True
    names = ", ".join(layer["class_name"] for layer in reference)
    return judged(part, points, True, f"The augmentation is {names} with the exercise's settings; in training "
                  f"it changed {changed:.0%} of the pixels of a batch of {len(images)} images and it leaves "
                  "them unchanged at inference.", value=value), True


def layer_problems(found: list[dict], reference: list[dict]) -> list[str]:
    """Every way the layers differ from the reference's: their classes and order, then their settings."""
    names = [layer.get("class_name") for layer in found]
    wanted = [layer["class_name"] for layer in reference]
    if names != wanted:
        return [f"The augmentation's layers are {names}; the exercise asks for {wanted}, in this order."]
    problems = []
    for layer, expected in zip(found, reference):
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        for key in FACTORS:
            want = _largest(expected["config"].get(key))
            if want is not None:
                got = _largest(config.get(key))
                if got is None or not np.isclose(got, want, rtol=1e-4):
                    problems.append(f"{expected['class_name']}'s {key} reaches {got}, not {want:.4g}.")
        for key in SETTINGS + FACTORS:
            if _largest(expected["config"].get(key)) is None and key in expected["config"] \
                    and config.get(key) != expected["config"][key]:
                problems.append(f"{expected['class_name']}'s {key} is {str(config.get(key))[:40]!r}, "
                                f"not {expected['config'][key]!r}.")
    return problems


def batch_problems(images: np.ndarray, training: np.ndarray, inference: np.ndarray) -> list[str]:
    """What the augmented batches must show, whatever the layers claim to be."""
    problems = []
    if not (np.all(np.isfinite(training)) and training.min() >= -1e-6 and training.max() <= 1 + 1e-6):
        problems.append("In training the augmented pixels leave the range 0-1.")
    if np.mean(np.abs(training - images) > 0.05) <= 0.01:
        problems.append("In training the augmentation left the images (nearly) unchanged.")
    if not np.allclose(inference, images):
        problems.append("At inference (training=False) the augmentation changed the images; it must pass "
                        "them through unchanged.")
    return problems


def _largest(value) -> float | None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return float(max(abs(v) for v in values))


def _read_layers(path: Path) -> tuple[list[dict] | None, str | None]:
    if not path.is_file() or path.is_symlink():
        return None, "no description of its layers came back."
    if path.stat().st_size > MAX_LAYERS_BYTES:
        return None, "the description of its layers is implausibly large."
    try:
        layers = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None, "the description of its layers is not valid JSON."
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        return None, "the description of its layers is not a list of layers."
    return layers, None


def _read_array(path: Path, shape: tuple[int, ...], limit: int) -> tuple[np.ndarray | None, str | None]:
    """A float array of ``shape`` from the probe, or why not ("none came back" when there is no file)."""
    if not path.is_file() or path.is_symlink():
        return None, "none came back"
    if path.stat().st_size > limit:
        return None, f"{path.name} is larger than an array of shape {shape} can be."
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:
        return None, f"{path.name} is not a readable array ({type(error).__name__})."
    if array.shape != tuple(shape):
        return None, f"{path.name} has shape {array.shape}, not {tuple(shape)}."
    if array.dtype.kind != "f":
        return None, f"{path.name} holds {array.dtype} values, not floating-point numbers."
    return array.astype("float64", copy=False), None
