"""Grading lab 3 (MNIST from the Kaggle CSV): one CNN trained three ways, the annealer, the augmentation.

The graded cells of ``solutions/lab3-annealing-augmentation`` and how each is judged here:

===========================  =====================================================================
``test-cnn-model``           ``artifacts/plain.keras``'s architecture vs the hidden test's spec
``test-plain-accuracy``      its accuracy on the official MNIST test images vs the target
``test-annealer``            the learning rates ``build_annealer()``'s callback sets through epochs
                             whose validation loss stalls, vs the reference callback's
``test-annealed-accuracy``   ``artifacts/annealed.keras``'s accuracy (it must be the same CNN), and
                             that it was trained with the annealer: :func:`annealing_problems`
``test-augmentation``        ``build_augmentation()``'s layers and settings vs the reference's, and
                             what it does to a batch in training and at inference
``test-augmented-accuracy``  ``artifacts/augmented.keras``'s accuracy (it must be the same CNN), and
                             that augmentation made it robust: :func:`robustness_problems`
===========================  =====================================================================

The reference annealer and augmentation are the source notebook's own
solutions: the grader builds them from its cells, so the exercise's settings
have one home. The notebook's training cells are not run again: the three
models are graded from their files, and the sandboxed run only defines the
student's functions for the probes (and gives the student the feedback of the
test cells that do not need a trained model).

Each technique's part measures the technique, not only an accuracy any model of
the right architecture reaches (saving the plain model three times earned the
technique parts once):

* **Augmentation, by robustness.** With the evaluation images, the model probe
  is given 2,000 copies of a secret sample of them, each rotated, shifted and
  zoomed by the exercise's own augmentation layers seeded from the run's secret
  (:mod:`autograder.scoring.transformed_copies`). The augmented model must reach
  ``labkit.targets``' ``augmented-transformed`` target on them, and beat the
  student's own plain model there by ``TRANSFORMED_GAIN`` (from
  :mod:`labkit.settings`, where the notebook's ``prepare`` cell reads it too) when that model
  passed its architecture check (a broken plain model makes the comparison
  meaningless, so the fixed target is there whatever the plain model is).
* **Annealing, by its learning-rate history.** The save cell records each run
  epoch by epoch in ``artifacts/metrics.json``. The annealed run's learning
  rates must be what the exercise's annealer sets for the validation losses it
  recorded, starting at the lab's ``LEARNING_RATE`` (from :mod:`labkit.settings`, as the
  notebook's ``train`` has it); the optimizer saved in
  ``annealed.keras`` must end at the rate the annealer leaves; the record's
  test accuracy and loss must be the file's own, as the grader measures them
  (on the default evaluation set: the notebook tests on the same images); the
  file must not hold ``plain.keras``' weights; and an offline Comet run of the
  annealed model, when one is handed in, must record the same numbers. A record
  is the student's to write, so a forger who invents a whole consistent history
  still gets through; what it takes is no longer "save the plain model again".
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, notebook_run, source
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded, PartResult, accuracy_part, gated, judged
from autograder.sandbox import output as sandbox_output
from autograder.sandbox.output import OutputFolder, OutputRefused
from autograder.sandbox.untrusted import UntrustedDataError, finite_float, loads_json
from autograder.scoring import evaluation_sets, keras_models, transformed_copies
from autograder.scoring.keras_models import ModelProbe, SavedModel

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
    "test-augmented-accuracy", "transformed-test", "batch-losses", "results", "save",
})
"""Cells the grader's notebook run leaves out: they train, evaluate and save the models graded from files."""

ANNEALED_EPOCHS = 12
AUGMENTED_IMAGES = 64
FACTORS = ("factor", "height_factor", "width_factor")
"""Settings compared by their largest magnitude: 0.08 and (-0.08, 0.08) are the same range."""
SETTINGS = ("fill_mode", "fill_value", "interpolation")
MAX_LAYERS_BYTES = 64 * 2**10

TRANSFORMED_TARGET = "augmented-transformed"
"""The ``labkit.targets`` entry of the augmented model's accuracy on transformed copies."""
MAX_METRICS_BYTES = 2**20
MAX_CONFIG_BYTES = 2**20
MAX_EPOCHS = 1000
RATE_RTOL = 1e-5
"""Learning rates are float32 variables: a replay of the same callback gives the same bits."""
ACCURACY_TOLERANCE = 3e-4
"""How far a record's test accuracy may be from the grader's measurement of the file: three images in
10,000, for near-ties that another device's arithmetic tips over. On this machine the two agree to 3e-8."""
LOSS_RTOL = 1e-3
"""... and its test loss, relative. On this machine they agree to 6e-7 (float32 sums over batches in
another order); two models trained apart differ by far more (the reference's plain and annealed models,
full profile: 0.028 and 0.016)."""


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
    mixed: transformed_copies.MixedSet
    probes: notebook_run.ProbeFolders
    epoch_logs: list[dict]
    reference_rates: np.ndarray
    reference_layers: list[dict]
    images: np.ndarray
    released: object
    options: GradingOptions
    annealer_source: str  # the source's annealer cell: a function does not travel to the workers, its source does
    learning_rate: float  # LEARNING_RATE, every run's starting rate (labkit.settings, as the notebook reads it)
    transformed_target: float
    transformed_gain: float  # TRANSFORMED_GAIN (labkit.settings, as the notebook reads it)

    @property
    def evaluation(self) -> keras_models.EvaluationSet:
        """The evaluation set's own rows (images and perturbed copies), as every Keras lab's context has it;
        its folder's ``inputs.npy`` holds the transformed copies too (``mixed``)."""
        return self.mixed.evaluation


class Grader(LabGrader):
    lab = LAB

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images and their transformed copies, the probes' inputs, the reference annealer's
        and augmentation's results."""
        import keras

        import labkit

        solution, points = self.read_source(keras_models.graded_parts(MODELS) | {ANNEALER, AUGMENTATION})
        build_annealer = source.solution_function(solution, "annealer", "build_annealer", {"keras": keras})
        build_augmentation = source.solution_function(solution, "augmentation", "build_augmentation",
                                                      {"keras": keras})
        reference_augmentation = build_augmentation()
        mixed = transformed_copies.write_mixed_set(
            scratch / "evaluation",
            evaluation_sets.images_for(options.evaluation_dir, LAB, CLASSES,
                                       lambda: evaluation_sets.official_test_set("mnist", "MNIST")),
            CLASSES, options.secret.rng(f"{LAB}/perturbed-copies"),
            transformed_copies.augmentation_transform(reference_augmentation.layers,
                                                      options.secret.rng(f"{LAB}/transformed-copies/layers")),
            options.secret.rng(f"{LAB}/transformed-copies"))
        train_images, train_labels = labkit.data.load("mnist", "train")
        chosen = labkit.data.stratified_indices(train_labels, AUGMENTED_IMAGES,
                                                seed=options.secret.seed(f"{LAB}/augmentation/images"))
        images = keras_models.prepare(train_images[chosen])
        epoch_logs, initial_rate = stalling_epochs(options.secret.rng(f"{LAB}/annealer/epochs"))
        folders = notebook_run.probe_folders(scratch, [probes.ANNEALER, probes.AUGMENTATION])
        (folders.inputs / "epoch_logs.json").write_text(json.dumps({"epoch_logs": epoch_logs,
                                                                    "initial_rate": initial_rate}))
        np.save(folders.inputs / "images.npy", images, allow_pickle=False)
        for folder in (scratch, mixed.rows.folder):
            sandbox.readable_by_all(folder)
        return Context(points, source.architecture_check(solution, "test-cnn-model"),
                       keras_models.model_targets(LAB, MODELS, options.profile),
                       mixed, folders, epoch_logs, reference_rates(build_annealer, epoch_logs, initial_rate),
                       layer_settings(reference_augmentation), images, source.read(self.released_notebook()),
                       options, next(c.source for c in solution.cells if c.get("id") == "annealer"),
                       float(labkit.settings.value(LAB, "LEARNING_RATE", options.profile)),
                       labkit.targets.target(LAB, TRANSFORMED_TARGET, options.profile),
                       float(labkit.settings.value(LAB, "TRANSFORMED_GAIN", options.profile)))

    def grade(self, copy: Path, context: Context) -> Graded:
        # What the submission says about its training, read before any student code runs in the copy.
        records, records_problem = read_records(copy / "artifacts")
        comet_runs = comet_review.read_runs(copy / "comet-offline")
        saved_rate, saved_rate_problem = saved_learning_rate(copy / "artifacts", "annealed.keras")
        files = [copy / "artifacts" / f"{model.name}.keras" for model in MODELS]
        found = keras_models.probe_files(files, context.mixed.rows, INPUT_SHAPE, context.options.probe_limits)
        measured = {model.name: measure(model, probed, context, path.name)
                    for model, probed, path in zip(MODELS, found, files)}
        # The architecture part is plain.keras'; each file's accuracy counts only if that file is build_cnn's CNN.
        plain = measured["plain"].graded
        annealed = annealed_part(measured, context, records.get("annealed"), records_problem, comet_runs,
                                 saved_rate, saved_rate_problem)
        augmented = augmented_part(measured, context)
        parts = {plain.model_part.part: plain.model_part, plain.accuracy_part.part: plain.accuracy_part,
                 annealed.part: annealed, augmented.part: augmented}
        fingerprints = {name: found.graded.fingerprint for name, found in measured.items()
                        if found.graded.fingerprint is not None}
        runs = keras_models.GradedModels({name: found.graded for name, found in measured.items()}).runs
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


# --- the three models, measured once each ----------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One saved model judged as every lab judges it, and what lab 3 measures besides."""

    graded: keras_models.GradedModel
    on_transformed: float | None  # accuracy on the transformed copies; None: no predictions
    test_accuracy: float | None  # on the evaluation images themselves (no copies), unrounded
    test_loss: float | None  # their mean cross-entropy, as Keras' evaluate computes it


def measure(model: SavedModel, found: ModelProbe, context: Context, file_name: str) -> Measured:
    """Judge what the probe ``found`` in ``artifacts/<name>.keras``, run on the evaluation set and the
    transformed copies together."""
    kept, on_transformed = transformed_copies.split(found, context.mixed)
    points = context.points
    architecture = keras_models.architecture_part(model.model_part, points[model.model_part], kept,
                                                  context.check.spec, context.check.check)
    accuracy = accuracy_part(model.accuracy_part, points[model.accuracy_part], kept, context.mixed.evaluation,
                             context.targets[model.name], model.what)
    graded = keras_models.GradedModel(
        kept, architecture, gated(accuracy, architecture, file_name), found.fingerprint,
        {"seconds": round(found.seconds, 2), "peak_memory_bytes": found.peak_memory_bytes})
    accuracy_value, loss = test_metrics(kept.predictions, context.mixed.evaluation)
    return Measured(graded, on_transformed, accuracy_value, loss)


def test_metrics(predictions: np.ndarray | None, evaluation: keras_models.EvaluationSet
                 ) -> tuple[float | None, float | None]:
    """Accuracy and mean cross-entropy on the evaluation images (not their perturbed copies)."""
    if predictions is None:
        return None, None
    originals = ~evaluation.copied if evaluation.copied is not None else np.ones(len(predictions), dtype=bool)
    scores, labels = predictions[originals].astype("float64"), evaluation.labels[originals]
    chosen = np.clip(scores[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)  # Keras' clipping
    return float(np.mean(scores.argmax(axis=1) == labels)), float(np.mean(-np.log(chosen)))


def with_technique(accuracy: PartResult, problems: list[str], checked: str) -> PartResult:
    """``accuracy``, passing only when the technique's checks found no problem too; the findings said."""
    if accuracy.verdict not in ("pass", "fail") or accuracy.value is None:
        return accuracy  # not judged, or no predictions: its message says why
    passed = accuracy.verdict == "pass" and not problems
    said = " ".join(problems) if problems else checked
    return judged(accuracy.part, accuracy.max_points, passed, f"{accuracy.message} {said}",
                  value=accuracy.value, threshold=accuracy.threshold)


# --- augmentation: robustness on transformed copies -------------------------------------------------


def augmented_part(measured: dict[str, Measured], context: Context) -> PartResult:
    augmented, plain = measured["augmented"], measured["plain"]
    plain_valid = plain.graded.model_part.verdict == "pass" and plain.on_transformed is not None
    problems, checked = robustness_problems(augmented.on_transformed,
                                            plain.on_transformed if plain_valid else None,
                                            context.transformed_target, context.transformed_gain,
                                            context.mixed.copies)
    part = with_technique(augmented.graded.accuracy_part, problems, checked)
    return replace(part, measurements=robustness_measurements(
        augmented.on_transformed, plain.on_transformed if plain_valid else None,
        context.transformed_target, context.transformed_gain))


def robustness_measurements(augmented: float | None, plain: float | None, target: float, gain: float
                            ) -> dict[str, list[float]]:
    """The accuracy on the transformed copies and its gain over plain.keras, each beside its threshold."""
    if augmented is None:
        return {}
    measured = {TRANSFORMED_TARGET: [round(augmented, 6), target]}
    if plain is not None:
        measured[f"{TRANSFORMED_TARGET}-gain"] = [round(augmented - plain, 6), gain]
    return measured


def robustness_problems(augmented: float | None, plain: float | None, target: float, gain: float,
                        copies: int) -> tuple[list[str], str]:
    """What keeps the augmented model's accuracy on the transformed copies from showing its augmentation,
    and, when nothing does, what was checked. ``plain`` is None when the plain model cannot be compared."""
    if augmented is None:
        return ["It gave no predictions on the transformed copies."], ""
    what = (f"On {copies:,} copies of those images, each rotated, shifted and zoomed at random within the "
            f"exercise's augmentation ranges, it reaches {augmented:.2%}")
    problems = []
    if augmented < target:
        problems.append(f"{what}, below the {target:.1%} that training on augmented images gives: was it "
                        "trained on augmented batches (train(..., augment=build_augmentation()))?")
    if plain is not None and augmented - plain < gain:
        problems.append(f"{'That is' if problems else what + ','} only {100 * (augmented - plain):+.1f} points "
                        f"above plain.keras ({plain:.2%}) there; augmentation should add at least "
                        f"{100 * gain:.0f}.")
    if problems:
        return problems, ""
    against = (f", {100 * (augmented - plain):+.1f} points over plain.keras ({plain:.2%}; at least "
               f"+{100 * gain:.0f} asked)" if plain is not None else
               " (plain.keras could not be compared: it did not pass its architecture check)")
    return [], f"{what}, at or above the {target:.1%} asked{against}."


# --- annealing: the learning-rate history ------------------------------------------------------------


def annealed_part(measured: dict[str, Measured], context: Context, record: dict | None,
                  records_problem: str | None, comet_runs, saved_rate: float | None,
                  saved_rate_problem: str | None) -> PartResult:
    annealed, plain = measured["annealed"], measured["plain"]
    same_as_plain = (annealed.graded.fingerprint is not None and plain.graded.fingerprint is not None
                     and annealed.graded.fingerprint.digest == plain.graded.fingerprint.digest)
    link = (annealed.test_accuracy, annealed.test_loss) if context.options.evaluation_dir is None else None
    problems, checked = annealing_problems(
        record, records_problem, reference_annealer(context.annealer_source), context.learning_rate, saved_rate,
        saved_rate_problem,
        link, same_as_plain, [run for run in comet_runs if _model_of(run) == "annealed"])
    return with_technique(annealed.graded.accuracy_part, problems, checked)


@functools.lru_cache(maxsize=4)
def reference_annealer(cell_source: str):
    """``build_annealer`` as the source notebook's annealer cell (``cell_source``) defines it."""
    import keras
    import nbformat

    cell = nbformat.v4.new_code_cell(cell_source)
    cell["id"] = "annealer"
    return source.solution_function(nbformat.v4.new_notebook(cells=[cell]), "annealer", "build_annealer",
                                    {"keras": keras})


def _model_of(run: dict) -> str | None:
    return COMET_MODELS.get(str(run.get("params", {}).get("model"))) if not run.get("problem") else None


def annealing_problems(record: dict | None, records_problem: str | None, build_annealer, learning_rate: float,
                       saved_rate: float | None, saved_rate_problem: str | None,
                       measured: tuple[float | None, float | None] | None, same_as_plain: bool,
                       comet_runs: list[dict]) -> tuple[list[str], str]:
    """Whether the annealed model's training record shows the annealer at work, and is this file's.

    ``record`` is ``metrics.json``'s entry for the model (:func:`read_records`), ``saved_rate`` the
    learning rate its file's optimizer was saved with, ``measured`` the file's (test accuracy, test loss)
    as the grader measured them (None under a private evaluation set), ``comet_runs`` the offline Comet
    runs of the annealed model handed in. Returns the problems, or what was checked.
    """
    problems = []
    if same_as_plain:
        problems.append("annealed.keras holds the very weights of plain.keras: train each model in its own "
                        "section, from the top of the notebook, and save them with the save cell.")
    if record is None:
        return [*problems, (f"Its training record could not be checked: {records_problem} Run the notebook "
                            "from the top, the save cell last, and hand in artifacts/ as it wrote it.")], ""
    history = record["history"]
    recorded = history.get("learning_rate")
    if recorded is None:
        return [*problems, ("Its run recorded no learning rates: the annealer (build_annealer()'s "
                            "PlateauAnnealer) puts each epoch's rate in the history, so it was trained without "
                            "one.")], ""
    epochs = len(recorded)
    losses = ", ".join(f"{value:.4f}" for value in history["val_loss"])
    shown = ", ".join(f"{rate:.2g}" for rate in recorded)
    after = replayed_rates(build_annealer, history, learning_rate)
    expected = np.concatenate([[learning_rate], after[:-1]])
    if not np.allclose(recorded, expected, rtol=RATE_RTOL, atol=0.0):
        first = int(np.argmax(~np.isclose(recorded, expected, rtol=RATE_RTOL, atol=0.0)))
        problems.append(f"Its run recorded the learning rates {shown} over {epochs} epochs; with the validation "
                        f"losses it recorded ({losses}) the exercise's annealer, starting at the lab's "
                        f"{learning_rate:g}, sets {', '.join(f'{rate:.2g}' for rate in expected)} (first "
                        f"different in epoch {first + 1}).")
    if saved_rate is None:
        problems.append(f"annealed.keras's optimizer could not be read: {saved_rate_problem}")
    elif not math.isclose(saved_rate, after[-1], rel_tol=RATE_RTOL):
        problems.append(f"annealed.keras's optimizer was saved at a learning rate of {saved_rate:.3g}, but the "
                        f"annealer leaves this run at {after[-1]:.3g}: the file is not the model of this run, or "
                        "its learning rate was set by hand.")
    link = ""
    if measured is not None and measured[0] is not None:
        accuracy, loss = measured
        if abs(record["test_accuracy"] - accuracy) > ACCURACY_TOLERANCE \
                or not math.isclose(record["test_loss"], loss, rel_tol=LOSS_RTOL):
            problems.append(f"Its run recorded a test accuracy of {record['test_accuracy']:.2%} and a test loss "
                            f"of {record['test_loss']:.4f}; annealed.keras measures {accuracy:.2%} and "
                            f"{loss:.4f} on the same images: the file is not the model this run trained.")
        link = ", its recorded test accuracy and loss are annealed.keras' own"
    comet = ""
    if comet_runs:
        if not any(_same_run(run, record) for run in comet_runs):
            problems.append(f"The {len(comet_runs)} Comet run(s) of the annealed CNN handed in (comet-offline/) "
                            "record another last learning rate, validation loss or test result than "
                            "artifacts/metrics.json: hand in the runs of the training you saved.")
        comet = ", and its offline Comet run records the same"
    if problems:
        return problems, ""
    drops = sum(1 for before, now in itertools.pairwise(recorded) if now < before)
    return [], (f"Its training record checks out: over {epochs} epochs the learning rates ({shown}; "
                f"{drops} drop{'' if drops == 1 else 's'}) are what the exercise's annealer sets for the "
                f"validation losses recorded, the optimizer saved in annealed.keras ends where the annealer "
                f"leaves it ({after[-1]:.2g}){link}{comet}.")


def replayed_rates(build_annealer, history: dict, learning_rate: float) -> np.ndarray:
    """The learning rate after each epoch when the exercise's annealer sees the run's recorded epochs."""
    logs = [{name: values[epoch] for name, values in history.items() if name != "learning_rate"}
            for epoch in range(len(history["val_loss"]))]
    return reference_rates(build_annealer, logs, learning_rate)


def _same_run(run: dict, record: dict) -> bool:
    """Whether a Comet run's last logged values are the record's (the same training, logged twice)."""
    logged = run.get("metrics", {})
    pairs = [(logged.get("learning_rate"), record["history"]["learning_rate"][-1]),
             (logged.get("val_loss"), record["history"]["val_loss"][-1]),
             (logged.get("test_accuracy"), record["test_accuracy"]),
             (logged.get("test_loss"), record["test_loss"])]
    return all(isinstance(value, float) and math.isclose(value, wanted, rel_tol=1e-6) for value, wanted in pairs)


# --- what the submission says about its training: read as hostile data ------------------------------


def read_records(artifacts: Path) -> tuple[dict[str, dict], str | None]:
    """``metrics.json``'s entry for each model that has a usable one: its test accuracy and loss and its
    epoch-by-epoch history (lists of finite numbers of one length); and what was wrong, if anything."""
    try:
        data = sandbox_output.read_json(artifacts, "metrics.json", MAX_METRICS_BYTES)
    except FileNotFoundError:
        return {}, "artifacts/metrics.json is missing."
    except (OutputRefused, OSError) as error:
        return {}, f"artifacts/metrics.json is not usable ({error})."
    if not isinstance(data, dict):
        return {}, "artifacts/metrics.json is not a mapping of the models."
    records, problems = {}, []
    for model in MODELS:
        try:
            records[model.name] = _record(data.get(model.name))
        except (UntrustedDataError, ValueError, TypeError, KeyError) as error:
            problems.append(f"artifacts/metrics.json's {model.name!r} entry is not usable ({str(error)[:200]}).")
    return records, " ".join(problems) or None


def _record(entry) -> dict:
    if not isinstance(entry, dict):
        raise TypeError("no entry")
    history = entry["history"]
    if not isinstance(history, dict) or len(history) > 50:
        raise ValueError("its history is not a mapping of metrics")
    kept = {}
    for name, values in history.items():
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_EPOCHS:
            raise ValueError(f"its history's {str(name)[:40]!r} is not a list of epochs")
        kept[str(name)[:100]] = [finite_float(value) for value in values]
    if "val_loss" not in kept:
        raise ValueError("its history has no validation losses")
    if len({len(values) for values in kept.values()}) != 1:
        raise ValueError("its history's metrics have different numbers of epochs")
    return {"history": kept, "test_accuracy": finite_float(entry["test_accuracy"], low=0, high=1),
            "test_loss": finite_float(entry["test_loss"], low=0)}


def saved_learning_rate(artifacts: Path, name: str) -> tuple[float | None, str | None]:
    """The learning rate a ``.keras`` file's optimizer was saved with (its ``config.json``, read as data:
    the file is loaded by Keras only in the sandbox), or why there is none."""
    try:
        data = sandbox_output.read_bytes(artifacts, name, keras_models.MAX_MODEL_BYTES)
    except FileNotFoundError:
        return None, f"{name} is missing."
    except (OutputRefused, OSError) as error:
        return None, str(error)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = archive.getinfo("config.json")
            if member.file_size > MAX_CONFIG_BYTES:
                return None, f"its config.json has {member.file_size:,} bytes."
            config = loads_json(archive.read(member), max_bytes=MAX_CONFIG_BYTES)
        optimizer = config["compile_config"]["optimizer"]
        rate = optimizer["config"]["learning_rate"]
        return finite_float(rate, low=0), None
    except KeyError:
        return None, ("the file records no optimizer with a learning rate: save the trained model with "
                      "model.save(...), as the save cell does.")
    except (UntrustedDataError, TypeError, ValueError) as error:
        return None, f"its optimizer's settings are not usable ({str(error)[:200]})."
    except Exception as error:  # zipfile raises many kinds on a malformed archive
        return None, f"it is not a readable .keras archive ({type(error).__name__})."


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
