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

ANNEALED_EPOCHS = 12
AUGMENTED_IMAGES = 64
FACTORS = ("factor", "height_factor", "width_factor")
"""Settings compared by their largest magnitude: 0.08 and (-0.08, 0.08) are the same range."""
SETTINGS = ("fill_mode", "fill_value", "interpolation")
MAX_LAYERS_BYTES = 64 * 2**10


def stalling_epochs(rng: np.random.Generator, epochs: int = ANNEALED_EPOCHS) -> tuple[list[dict], float]:
    """Epoch logs whose validation loss improves and stalls by turns, and a starting learning rate.

    Drawn from the run's secret, so that no table of learning rates made in
    advance fits them. The training loss always falls (an annealer must watch
    the validation loss); each improvement is far above any ``min_delta`` a
    callback would use, and a stall keeps the loss or raises it a little.
    """
    val_loss, logs = 1.0, []
    stalls_left = 0
    for epoch in range(epochs):
        if epoch > 0:
            if stalls_left == 0 and rng.random() < 0.4:
                stalls_left = int(rng.integers(2, 5))
            if stalls_left:
                stalls_left -= 1
                val_loss += float(rng.choice([0.0, rng.uniform(0.001, 0.02)]))
            else:
                val_loss -= float(rng.uniform(0.02, 0.1)) * val_loss
        logs.append({"loss": round(1.0 - 0.05 * epoch, 6), "val_loss": round(val_loss, 6)})
    return logs, float(10 ** rng.uniform(-3.3, -2.3))


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    check: source.ArchitectureCheck
    targets: dict[str, float]
    evaluation: keras_models.EvaluationSet
    probes: notebook_run.ProbeFolders
    epoch_logs: list[dict]
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
            CLASSES, options.secret.rng(f"{LAB}/perturbed-copies"))
        build_annealer = source.solution_function(solution, "annealer", "build_annealer", {"keras": keras})
        build_augmentation = source.solution_function(solution, "augmentation", "build_augmentation",
                                                      {"keras": keras})
        train_images, train_labels = labkit.data.load("mnist", "train")
        chosen = labkit.data.stratified_indices(train_labels, AUGMENTED_IMAGES,
                                                seed=options.secret.seed(f"{LAB}/augmentation/images"))
        images = keras_models.prepare(train_images[chosen])
        epoch_logs, initial_rate = stalling_epochs(options.secret.rng(f"{LAB}/annealer/epochs"))
        folders = notebook_run.probe_folders(scratch, [probes.ANNEALER, probes.AUGMENTATION])
        (folders.inputs / "epoch_logs.json").write_text(json.dumps({"epoch_logs": epoch_logs,
                                                                    "initial_rate": initial_rate}))
        np.save(folders.inputs / "images.npy", images, allow_pickle=False)
        for folder in (scratch, evaluation.folder):
            sandbox.readable_by_all(folder)
        return Context(points, source.architecture_check(solution, "test-cnn-model"),
                       keras_models.model_targets(LAB, MODELS, options.profile),
                       evaluation, folders, epoch_logs, reference_rates(build_annealer, epoch_logs, initial_rate),
                       layer_settings(build_augmentation()), images, source.read(self.released_notebook()),
                       options)

    def grade(self, copy: Path, context: Context) -> Graded:
        checks = {model.model_part: context.check for model in MODELS}  # one part: all three are build_cnn's
        models = keras_models.grade_models(copy, MODELS, context.points, checks, context.targets,
                                           context.evaluation, INPUT_SHAPE, context.options.probe_limits)
        # The architecture part is plain.keras'; each file's accuracy counts only if that file is build_cnn's CNN.
        plain = models.by_name["plain"]
        parts = {plain.model_part.part: plain.model_part,
                 **{graded.accuracy_part.part: graded.accuracy_part for graded in models.by_name.values()}}
        fingerprints, runs = models.fingerprints, models.runs
        points = context.points
        probed = [
            notebook_parts.ProbedPart(
                ANNEALER, points[ANNEALER], "build_annealer", f"{len(context.epoch_logs)} epochs of a tiny model",
                notebook_parts.probe_cell("the learning rates your annealer sets while the validation loss "
                                          "stalls.", "build_annealer", context.probes.scripts / probes.ANNEALER.name),
                lambda out: annealer_part(ANNEALER, points[ANNEALER], context.epoch_logs, context.reference_rates,
                                          out)),
            notebook_parts.ProbedPart(
                AUGMENTATION, points[AUGMENTATION], "build_augmentation", f"a batch of {AUGMENTED_IMAGES} images",
                notebook_parts.probe_cell("your augmentation's layers, and what it does to a batch.",
                                          "build_augmentation", context.probes.scripts / probes.AUGMENTATION.name),
                lambda out: augmentation_part(AUGMENTATION, points[AUGMENTATION], context.reference_layers,
                                              context.images, out)),
        ]
        probed_parts, tests, notes = notebook_parts.grade(copy, LAB, context.released, context.probes, probed,
                                                          list(points), context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        return Graded(tuple(parts[part] for part in points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows for this lab's results."""
        models = {model.name: model.parts for model in MODELS}
        return comet_review.review_rows(results, models, COMET_MODELS)


# --- judging what came back ---------------------------------------------------------------------


def reference_rates(build_annealer, epoch_logs: list[dict], initial_rate: float) -> np.ndarray:
    """The reference annealer's learning rates through ``epoch_logs``, its messages kept off the grader's output."""
    from autograder.probes.annealer import rates_while_driven

    with contextlib.redirect_stdout(io.StringIO()):
        return rates_while_driven(build_annealer(), epoch_logs, initial_rate)


def layer_settings(augmentation) -> list[dict]:
    """``[{"class_name", "config"}]`` of an augmentation model's layers, as the probe reports them."""
    from autograder.probes.augmentation import plain

    layers = getattr(augmentation, "layers", [augmentation])
    return json.loads(json.dumps([{"class_name": type(layer).__name__, "config": layer.get_config()}
                                  for layer in layers], default=plain))


def annealer_part(part: str, points: float, epoch_logs: list[dict], reference: np.ndarray,
                  probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The learning rate after each epoch against the reference annealer's; the bool: anything came back."""
    rates, problem = _read_array(probe_out, "rates.npy", reference.shape, reference.size * 8 + 4096)
    if rates is None:
        return judged(part, points, False, f"The annealer's learning rates: {problem}"), problem != "none came back"
    shown = ", ".join(f"{rate:.2g}" for rate in rates)
    wanted = ", ".join(f"{rate:.2g}" for rate in reference)
    if np.allclose(rates, reference, rtol=1e-4, atol=0.0):
        return judged(part, points, True, f"Through {len(reference)} epochs whose validation loss stalls, your "
                      f"annealer sets the learning rates {shown}, as the exercise's does.",
                      value=shown, threshold=wanted), True
    first = int(np.argmax(~np.isclose(rates, reference, rtol=1e-4, atol=0.0)))
    losses = ", ".join(f"{logs['val_loss']:.3f}" for logs in epoch_logs)
    return judged(part, points, False, f"Through {len(reference)} epochs (training loss always falling, "
                  f"validation losses {losses}) the learning rates should be {wanted}; yours are {shown}, "
                  f"first different after epoch {first + 1}. Check what it monitors, factor, patience and "
                  "min_lr.", value=shown, threshold=wanted), True


def augmentation_part(part: str, points: float, reference: list[dict], images: np.ndarray,
                      probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """The layers' settings and the batches, against the reference augmentation and the exercise's rules."""
    layers, problem = _read_layers(probe_out)
    limit = images.nbytes + 4096
    training, training_problem = _read_array(probe_out, "training.npy", images.shape, limit)
    inference, inference_problem = _read_array(probe_out, "inference.npy", images.shape, limit)
    if layers is None or training is None or inference is None:
        reason = problem or training_problem or inference_problem
        came_back = probe_out.exists("layers.json")
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


def _read_layers(probe_out: OutputFolder) -> tuple[list[dict] | None, str | None]:
    try:
        layers = probe_out.read_json("layers.json", MAX_LAYERS_BYTES)
    except FileNotFoundError:
        return None, "no description of its layers came back."
    except OutputRefused as error:
        return None, f"the description of its layers is not usable ({error})"
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        return None, "the description of its layers is not a list of layers."
    return layers, None


def _read_array(probe_out: OutputFolder, name: str, shape: tuple[int, ...],
                limit: int) -> tuple[np.ndarray | None, str | None]:
    """A float array of ``shape`` from the probe, or why not ("none came back" when there is no file)."""
    try:
        array = probe_out.read_array(name, limit, kinds="f", shape=shape)
    except FileNotFoundError:
        return None, "none came back"
    except OutputRefused as error:
        return None, str(error)
    return array.astype("float64", copy=False), None
