"""Grading lab 5 (EMNIST ByClass, PyTorch): three saved networks, a comparison of six, four pieces of code.

The graded cells of ``solutions/lab5-emnist-deep-models`` and how each is judged here:

========================  ===========================================================================
``test-lenet-model``      ``artifacts/lenet.safetensors`` fits ``models.LeNet(num_classes=62)`` exactly
                          (every tensor's name, shape and type: the hidden test's 35,814 parameters)
                          and runs, loaded strictly into that reference network in a sandbox; and the
                          notebook's ``LeNet`` class, built by a probe cell, gives the reference's outputs
                          with its own weights (same activations, same order of layers)
``test-lenet-accuracy``   its accuracy on held-out EMNIST ByClass images, measured by the grader
``test-spinal-head``      the notebook's ``SpinalHead``, built by a probe cell for two shapes the grader
                          chose; its state dict, loaded into ``models.SpinalHead``, must give the same
                          outputs; evaluation mode deterministic, dropout active in training mode
``test-optimizers``       ``pretrain_optimizer`` / ``finetune_optimizer`` take three steps with the
                          grader's gradients on a small layer, for three settings of the grid; compared with
                          ``torch.optim.SGD(lr, momentum, weight_decay)`` / ``Adam(lr=FINETUNE_LEARNING_RATE)``
``test-vgg-accuracy``     ``artifacts/vgg.safetensors`` loaded strictly into ``models.VGG(62, width,
                          batch_norm=True)``: its accuracy on the held-out images
``test-weighted-scores``  ``weighted_scores`` on two pairs of label arrays the grader made (62 unbalanced
                          classes, some never predicted), against scikit-learn's weighted averages
``test-comparison``       ``artifacts/comparison.json``, the student's table of the six networks trained
                          on one budget, against the grader's own measurement of each network's saved
                          weights (``compare-<network>.safetensors``, loaded strictly into
                          ``models.build(network, 62, width)`` at the width its row states, among the
                          comparison's widths): one row per network naming its own file, each file
                          holding weights no other handed-in file holds, the accuracy and weighted
                          precision, recall and F1 on the held-out sample within :data:`SCORE_TOLERANCE`,
                          the parameter count exact, the training time positive and at most
                          :data:`MAX_TRAIN_SECONDS`, and every network at least ``COMPARED_FLOOR``
                          accurate; anything else, and the part earns nothing
``test-transfer``         ``artifacts/mnist-transfer.safetensors`` in ``models.VGG(10, width, batch_norm=True)``:
                          its accuracy on MNIST test images, and its feature extractor's parameters equal
                          to ``vgg.safetensors``' (the features were frozen)
========================  ===========================================================================

**The saved networks** run as the instructor's classes (``labkit.models``), never
the student's: a file is a state dict, checked as data first (a link, a pickle, an
oversized file, a tensor too many or of the wrong shape is named in the
feedback), then loaded strictly in the sandbox. ``metrics.json`` and
``comparison.json`` are the student's data: only the networks' ``width`` and
``options`` are taken from them, and only values the notebook can produce (its
widths and the VGG's batch norm, which it reads from :mod:`labkit.settings`, as
this grader does, with the fine-tuning rate and the held-out samples' sizes).

**The held-out images** are by default the test part of labkit's offline
partition (20% of the official ByClass test set): it is held out whether the
student trained on the official training set or on the partition's train part,
so one evaluation set is fair to both. A stratified sample of it is used
(:data:`EMNIST_IMAGES`, the notebook's own quick-profile test set) to keep a
submission well under 90 s on 2 CPU cores, and of MNIST's test set for the
transfer (:data:`MNIST_IMAGES`); the feedback says so. An instructor's private
set (``--evaluation``, :mod:`autograder.scoring.evaluation_sets`) is used whole: its
``images``/``labels`` for the EMNIST models, ``mnist_images``/``mnist_labels``
for the transfer. The comparison is always measured on the default sample, the
images the notebook's table was measured on: that part checks the table against
the files, not a network against a target.

**Training is not re-run**: the notebook runs in the sandbox without the
cells of :data:`SKIP` (training, evaluation, plots, saving), so only the cells
the probes' functions need run; the in-notebook tests that remain are feedback.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, notebook_run, source
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded, PartResult, accuracy_part, gated, judged, not_judged
from autograder.sandbox.output import OutputFolder, OutputRefused, read_bytes
from autograder.sandbox.untrusted import UntrustedDataError, finite_float, loads_json
from autograder.scoring import evaluation_sets, perturbed_copies, torch_models
from autograder.scoring.torch_models import Predictions, Reference
from labkit import handin
from labkit import settings as shared

LAB = "lab5-emnist-deep-models"
CLASSES, MNIST_CLASSES = 62, 10
NORMALIZATION = shared.value(LAB, "NORMALIZATION")  # the notebook's NORMALIZATION, for EMNIST and MNIST alike
LENET_MODEL, LENET_ACCURACY = "test-lenet-model", "test-lenet-accuracy"
SPINAL_HEAD, OPTIMIZERS = "test-spinal-head", "test-optimizers"
VGG_ACCURACY, WEIGHTED_SCORES, TRANSFER = "test-vgg-accuracy", "test-weighted-scores", "test-transfer"
COMPARISON = "test-comparison"
SKIP = frozenset({"look", "lenet-train", "test-lenet-accuracy", "zoo", "augmentation", "search", "pretrain",
                  "evaluate", "test-vgg-accuracy", "test-weighted-scores", "report", "confusion", "confused",
                  "compare-budget", "compare-networks", "test-comparison", "compare-table",
                  "transfer", "test-transfer", "save", "check-submission"})
"""Cells left out of the sandboxed run: they train, evaluate, plot or save (or test what those made)."""
EMNIST_IMAGES, MNIST_IMAGES = shared.value(LAB, "HELD_OUT_SAMPLE"), shared.value(LAB, "MNIST_SAMPLE")
SAMPLE_SEED = shared.value(LAB, "SAMPLE_SEED")
"""The held-out samples (stratified, drawn with this seed): the notebook's quick-profile test sets, so a
quick run's logged accuracies are measured on the very same images, and its comparison's in every profile."""
COMET_MODELS = {"lenet": "lenet"}  # the VGG's run is named after its width: see comet_review
FILES = handin.model_files(LAB)  # {"lenet": "lenet.safetensors", ...}: what the student's check looks for too
COMPARED = handin.compared_files(LAB)  # {"lenet": "compare-lenet.safetensors", ...}: every network compared
COMPARISON_TABLE = handin.COMPARISON_TABLES[LAB]
SCORE_TOLERANCE = 0.005
"""How far a row's accuracy, weighted precision, recall or F1 may be from the grader's measurement of its file:
half a percentage point, for the few images another device or thread count may classify differently. A row
that was not measured from its file misses by more."""
MAX_TRAIN_SECONDS = 3600.0
"""A compared network's training time must be positive and at most this: an hour, far beyond any budget of
the lab, so only a time no run can have is refused (times are not measured by the grader)."""

LENET_IMAGES = 16
"""Held-out images the notebook's LeNet class runs on, to compare its forward pass with the reference's."""
HEADS = ((3136, 50, 62, 4), (10, 3, 4, 5))
"""The SpinalHead shapes the probe builds (in_features, units, num_classes, layers): the lab's, and an odd one."""
HEAD_ROWS = 7
SETTINGS = ({"learning_rate": 0.1, "batch_size": 16, "momentum": 0.9, "weight_decay": 1e-2},
            {"learning_rate": 0.01, "batch_size": 64, "momentum": 0.0, "weight_decay": 1e-3},
            {"learning_rate": 0.001, "batch_size": 32, "momentum": 0.95, "weight_decay": 0.0})
"""Settings of ``models.SGD_GRID`` that tell momentum and weight decay apart."""
STEPS, LAYER_SHAPE = 3, (3, 4)


# --- what the notebook can build (labkit.settings, which the notebook reads too) --------------------------


@dataclass(frozen=True)
class VGGChoices:
    """The VGG the notebook can build: its widths (all profiles and devices) and its options."""

    widths: tuple[float, ...]
    options: Mapping[str, object]


def vgg_choices() -> VGGChoices:
    """The VGG's widths on a CPU, on a GPU and in the quick profile, and its batch norm."""
    widths = tuple(sorted({float(width) for width in shared.value(LAB, "WIDTHS")["vgg"].values()}))
    return VGGChoices(widths, {"batch_norm": shared.value(LAB, "VGG_BATCH_NORM")})


def compared_widths() -> dict[str, tuple[float, ...]]:
    """Each compared network's widths, in the full and the quick profile: the only ones its row may state."""
    by_profile = [shared.value(LAB, "COMPARED_WIDTHS", profile) for profile in ("full", "quick")]
    return {network: tuple(sorted({float(widths[network]) for widths in by_profile})) for network in COMPARED}


class RecordError(ValueError):
    """``metrics.json`` does not say how to rebuild a network; the message says what to fix."""


def vgg_width(metrics_file: Path, model: str, choices: VGGChoices) -> float:
    """The width ``metrics.json`` records for ``model``, accepted only among the notebook's choices."""
    if metrics_file.is_symlink() or not metrics_file.is_file():
        raise RecordError("artifacts/metrics.json is missing, and it says which width your VGG has: run the "
                          "save cell and hand in the artifacts/ folder.")
    if metrics_file.stat().st_size > handin.MAX_METRICS_BYTES:
        raise RecordError("artifacts/metrics.json is larger than the save cell can write; it was not read.")
    try:
        record = loads_json(metrics_file.read_bytes(), max_bytes=handin.MAX_METRICS_BYTES)[model]
        width, options = record["width"], record.get("options", {})
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise RecordError(f"artifacts/metrics.json has no readable {model!r} record with its width: run the save "
                          "cell again.") from None
    allowed = ", ".join(f"{w:g}" for w in choices.widths)
    if not isinstance(width, int | float) or isinstance(width, bool) or \
            not any(math.isclose(width, w) for w in choices.widths):
        raise RecordError(f"artifacts/metrics.json says the {model!r} network has width {str(width)[:20]}; the "
                          f"notebook's VGG widths are {allowed} (WIDTHS['vgg']). Keep the given widths.")
    if options != dict(choices.options):
        raise RecordError(f"artifacts/metrics.json says the {model!r} network was built with options "
                          f"{str(options)[:100]}; the notebook's VGG is built with {dict(choices.options)}.")
    return next(w for w in choices.widths if math.isclose(width, w))


# --- the grader's own inputs and reference results --------------------------------------------------


@dataclass(frozen=True)
class OptimizerReference:
    """What the optimizers must do to the probe's layer, and what common mistakes do instead."""

    expected: dict[str, np.ndarray]  # the probe's after.npz keys -> the reference weights
    mistakes: dict[str, dict[str, np.ndarray]]  # "SGD without momentum" -> the weights it gives
    finetune_learning_rate: float


def optimizer_inputs(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list]:
    """The layer's starting weights and the gradients of each step (float64)."""
    start = {"weight": rng.normal(size=LAYER_SHAPE), "bias": rng.normal(size=LAYER_SHAPE[0])}
    gradients = [(rng.normal(size=LAYER_SHAPE), rng.normal(size=LAYER_SHAPE[0])) for _ in range(STEPS)]
    return start, gradients


def optimizer_reference(start, gradients, finetune_learning_rate: float) -> OptimizerReference:
    """The weights torch's own optimizers reach, and those of the usual mistakes (trusted side)."""
    import torch

    from autograder.probes.lab5_optimizers import layer_after

    def run(make) -> tuple[np.ndarray, np.ndarray]:
        return layer_after(make, start, gradients)

    def sgd(setting, **changes):
        settings = {"lr": setting["learning_rate"], "momentum": setting["momentum"],
                    "weight_decay": setting["weight_decay"], **changes}
        return lambda parameters: torch.optim.SGD(parameters, **settings)

    def as_keys(prefix, weights):
        return {f"{prefix}_weight": weights[0], f"{prefix}_bias": weights[1]}

    expected, mistakes = {}, {}
    variants = {"SGD without momentum": {"momentum": 0.0}, "SGD without weight decay": {"weight_decay": 0.0},
                "SGD without momentum or weight decay": {"momentum": 0.0, "weight_decay": 0.0}}
    for k, setting in enumerate(SETTINGS):
        expected |= as_keys(f"pretrain_{k}", run(sgd(setting)))
        for mistake, change in variants.items():
            mistakes.setdefault(mistake, {}).update(as_keys(f"pretrain_{k}", run(sgd(setting, **change))))
        if setting["momentum"]:
            mistakes.setdefault("SGD with Nesterov momentum", {}).update(
                as_keys(f"pretrain_{k}", run(sgd(setting, nesterov=True))))
    expected |= as_keys("finetune", run(lambda p: torch.optim.Adam(p, lr=finetune_learning_rate)))
    mistakes["Adam with its default learning rate 0.001"] = as_keys(
        "finetune", run(lambda p: torch.optim.Adam(p)))
    mistakes["AdamW"] = as_keys("finetune", run(lambda p: torch.optim.AdamW(p, lr=finetune_learning_rate)))
    return OptimizerReference(expected, mistakes, finetune_learning_rate)


def score_labels(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two (true, predicted) pairs: 62 unbalanced classes with some never predicted, and 7 even ones."""
    frequencies = 1.0 / np.arange(1, CLASSES + 1) ** 1.2
    true = rng.choice(CLASSES, size=3000, p=frequencies / frequencies.sum())
    predicted = np.where(rng.random(3000) < 0.6, true, rng.integers(0, CLASSES - 10, 3000))  # 10 classes never
    return [(true, predicted), (rng.integers(0, 7, 300), rng.integers(0, 7, 300))]


def reference_scores(true: np.ndarray, predicted: np.ndarray, average: str = "weighted") -> dict[str, float]:
    """scikit-learn's accuracy and ``average`` precision, recall and F1 (zero_division=0)."""
    from sklearn import metrics

    precision, recall, f1, _ = metrics.precision_recall_fscore_support(true, predicted, average=average,
                                                                       zero_division=0)
    return {"accuracy": float(metrics.accuracy_score(true, predicted)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def head_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(HEAD_ROWS, in_features)).astype(np.float32) for in_features, *_ in HEADS]


def stratified_sample(images: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    import labkit

    rows = labkit.data.stratified_indices(labels, min(size, len(labels)), seed=SAMPLE_SEED)
    return images[rows], labels[rows]


def held_out_sample() -> evaluation_sets.Images:
    """The default EMNIST set: a stratified sample of the offline partition's test part (see above)."""
    from labkit.data import partition

    held_out = partition.load("emnist-byclass", "test")
    images, labels = stratified_sample(*held_out, EMNIST_IMAGES)
    return evaluation_sets.Images(images, labels, f"a stratified sample of {len(labels):,} of the "
                                  f"{len(held_out.labels):,} held-out EMNIST ByClass images (the test part of "
                                  "labkit's offline partition)")


def mnist_sample() -> evaluation_sets.Images:
    """The default transfer set: a stratified sample of MNIST's official test set."""
    import labkit

    images, labels = stratified_sample(*labkit.data.load("mnist", "test"), MNIST_IMAGES)
    return evaluation_sets.Images(images, labels, f"a stratified sample of {len(labels):,} official MNIST "
                                  "test images")


def write_evaluation_set(folder: Path, name: str, images: evaluation_sets.Images,
                         copies_from: np.random.Generator | None) -> torch_models.EvaluationSet:
    """The images and their perturbed copies (:mod:`autograder.scoring.perturbed_copies`; None: the images
    alone, in order), normalised as the notebook's ``batches`` does (float32 N x 1 x 28 x 28), for the probe."""
    import labkit

    rows = perturbed_copies.with_copies(images.images, images.labels, copies_from)
    inputs, labels = labkit.data.to_torch_tensors(rows.images, rows.labels, normalize=NORMALIZATION)
    return torch_models.write_evaluation_set(folder, name, inputs.numpy(), labels.numpy(), images.description,
                                             rows.copied)


@dataclass(frozen=True)
class ProbeInputs:
    """What the notebook probes are given (also in the probes' folder, for the sandbox)."""

    lenet_images: np.ndarray  # normalised EMNIST images (no labels) for the notebook's LeNet
    heads: list[np.ndarray]  # features for each of HEADS
    start: dict[str, np.ndarray]  # the optimizers' layer
    gradients: list[tuple[np.ndarray, np.ndarray]]
    labels: list[tuple[np.ndarray, np.ndarray]]  # (true, predicted) pairs for weighted_scores


def write_probe_inputs(folder: Path, evaluation_images: np.ndarray, secret: GradingSecret) -> ProbeInputs:
    """Draw the notebook probes' inputs from the run's secret and write them into ``folder``."""
    chosen = secret.rng(f"{LAB}/lenet").choice(len(evaluation_images), LENET_IMAGES, replace=False)
    inputs = ProbeInputs(evaluation_images[np.sort(chosen)], head_inputs(secret.rng(f"{LAB}/spinal-head")),
                         *optimizer_inputs(secret.rng(f"{LAB}/optimizers")),
                         score_labels(secret.rng(f"{LAB}/weighted-scores")))
    np.save(folder / "lenet-inputs.npy", inputs.lenet_images, allow_pickle=False)
    (folder / "heads.json").write_text(json.dumps(HEADS))
    for k, array in enumerate(inputs.heads):
        np.save(folder / f"inputs-{k}.npy", array, allow_pickle=False)
    np.savez(folder / "start.npz", **inputs.start)
    np.savez(folder / "gradients.npz", **{f"{kind}_{k}": step[i] for k, step in enumerate(inputs.gradients)
                                          for i, kind in enumerate(("weight", "bias"))})
    (folder / "settings.json").write_text(json.dumps(SETTINGS))
    np.savez(folder / "labels.npz", **{f"{kind}_{k}": pair[i] for k, pair in enumerate(inputs.labels)
                                       for i, kind in enumerate(("true", "predicted"))})
    return inputs


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    targets: dict[str, float]
    lenet: Reference
    lenet_parameters: int  # the hidden test's count
    choices: VGGChoices
    vgg: dict[float, Reference]  # width -> VGG(62, width, **options)
    transfer: dict[float, Reference]  # width -> VGG(10, width, **options)
    emnist: torch_models.EvaluationSet
    mnist: torch_models.EvaluationSet
    probes: notebook_run.ProbeFolders
    lenet_images: np.ndarray
    head_inputs: list[np.ndarray]
    optimizers: OptimizerReference
    scores: list[dict[str, float]]
    macro_scores: list[dict[str, float]]
    released: object
    options: GradingOptions
    compared: dict[str, dict[float, Reference]]  # network -> width -> models.build(network, 62, width)
    comparison: torch_models.EvaluationSet  # the default held-out sample: the images the table was measured on
    compared_floor: float


class Grader(LabGrader):
    lab = LAB
    sampled_images = EMNIST_IMAGES  # of the held-out images its notebook tests on

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and every reference result, once per batch."""
        import labkit

        solution, points = self.read_source({LENET_MODEL, LENET_ACCURACY, SPINAL_HEAD, OPTIMIZERS, VGG_ACCURACY,
                                             WEIGHTED_SCORES, COMPARISON, TRANSFER})
        lenet_parameters = int(source.architecture_check(solution, LENET_MODEL).check["params"])
        lenet = torch_models.reference("lenet", CLASSES, 1.0, {})
        if lenet.parameter_count != lenet_parameters:
            raise RuntimeError(f"models.LeNet has {lenet.parameter_count:,} parameters, the hidden test of "
                               f"{LENET_MODEL} {lenet_parameters:,}: the reference and the notebook disagree.")
        choices = vgg_choices()
        finetune_rate = float(shared.value(LAB, "FINETUNE_LEARNING_RATE", options.profile))

        held_out = held_out_sample()
        emnist = write_evaluation_set(scratch / "evaluation", "emnist", evaluation_sets.images_for(
            options.evaluation_dir, LAB, CLASSES, lambda: held_out), options.secret.rng(f"{LAB}/perturbed-copies"))
        mnist = write_evaluation_set(scratch / "evaluation", "mnist", evaluation_sets.images_for(
            options.evaluation_dir, LAB, MNIST_CLASSES, mnist_sample, prefix="mnist_", what="MNIST images"),
            options.secret.rng(f"{LAB}/perturbed-copies/mnist"))
        comparison = write_evaluation_set(scratch / "evaluation", "comparison", held_out, None)

        folders = notebook_run.probe_folders(scratch, [probes.LAB5_LENET, probes.LAB5_SPINAL_HEAD,
                                                      probes.LAB5_OPTIMIZERS, probes.LAB5_WEIGHTED_SCORES])
        inputs = write_probe_inputs(folders.inputs, np.load(emnist.folder / "emnist.npy"), options.secret)
        for folder in (scratch, emnist.folder):
            sandbox.readable_by_all(folder)
        return Context(
            points, {model: labkit.targets.target(LAB, model, options.profile) for model in FILES},
            lenet, lenet_parameters, choices,
            {w: torch_models.reference("vgg", CLASSES, w, choices.options) for w in choices.widths},
            {w: torch_models.reference("vgg", MNIST_CLASSES, w, choices.options) for w in choices.widths},
            emnist, mnist, folders, inputs.lenet_images, inputs.heads,
            optimizer_reference(inputs.start, inputs.gradients, finetune_rate),
            [reference_scores(*pair) for pair in inputs.labels],
            [reference_scores(*pair, "macro") for pair in inputs.labels],
            source.read(self.released_notebook()), options,
            compared={network: {w: torch_models.reference(network, CLASSES, w, {}) for w in widths}
                      for network, widths in compared_widths().items()},
            comparison=comparison, compared_floor=float(shared.value(LAB, "COMPARED_FLOOR", options.profile)))

    def grade(self, copy: Path, context: Context) -> Graded:
        # What was handed in is read before the notebook runs in the same folder and could change it.
        parts, runs, fingerprints = network_parts(copy / "artifacts", context)
        file_part = parts[LENET_MODEL]  # judged again with the notebook's LeNet class
        probed_parts, tests, notes = notebook_parts.grade(
            copy, LAB, context.released, context.probes, probed(context, file_part), list(context.points),
            context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        parts[LENET_MODEL] = with_file_message(parts[LENET_MODEL], file_part)
        return Graded(tuple(parts[part] for part in context.points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows: the VGG's run is named after its width (``vgg width 0.5 batch norm``)."""
        choices = vgg_choices()
        names = COMET_MODELS | {f"vgg width {w:g} batch norm": "vgg" for w in choices.widths} \
            | {f"vgg width {w} batch norm": "vgg" for w in choices.widths}
        models = {"lenet": (LENET_MODEL, LENET_ACCURACY), "vgg": (VGG_ACCURACY, VGG_ACCURACY)}
        return comet_review.review_rows(results, models, names)


def network_parts(artifacts: Path, context: Context) -> tuple[dict[str, PartResult], dict, dict]:
    """The five parts judged from the saved networks, the sandbox run that measured them, and the
    weights' fingerprint of each network that ran."""
    points = context.points
    files = {model: artifacts / name for model, name in FILES.items()}
    expected, problems = expected_networks(artifacts / "metrics.json", context)
    for model in problems:  # a missing or unreadable file says more than a missing record
        problems[model] = file_problem(files[model]) or problems[model]
    to_run = []
    for model, reference in expected.items():
        problem = torch_models.checked_file(files[model], reference, f"the {model} network")
        if problem is None:
            evaluation = context.mnist if model == "mnist-transfer" else context.emnist
            to_run.append(torch_models.ModelRun(model, files[model], reference, evaluation))
        else:
            by_width = {"vgg": context.vgg, "mnist-transfer": context.transfer}.get(model, {})
            problems[model] = width_mismatch(files[model], reference, by_width, METRICS_RECORD) or problem
    table = compared_table(artifacts, context.compared)
    to_run += table.runs(artifacts, context.compared, context.comparison)
    ran = torch_models.run_models(to_run, context.options.probe_limits)
    found = {model: ran.found.get(model) or Predictions(problem=problems[model]) for model in FILES}
    lenet_file = lenet_model_part(points[LENET_MODEL], found["lenet"], context.lenet, context.lenet_parameters,
                                  len(context.emnist.labels))
    lenet_accuracy = accuracy_part(LENET_ACCURACY, points[LENET_ACCURACY], found["lenet"], context.emnist,
                                   context.targets["lenet"], "Your LeNet")
    parts = {
        LENET_MODEL: lenet_file,
        # gated on the file's own check (the notebook's class is judged later): same file, same weights
        LENET_ACCURACY: gated(lenet_accuracy, lenet_file, FILES["lenet"]),
        VGG_ACCURACY: accuracy_part(VGG_ACCURACY, points[VGG_ACCURACY], found["vgg"], context.emnist,
                                    context.targets["vgg"], "Your VGG"),
        TRANSFER: transfer_part(points[TRANSFER], found["mnist-transfer"], context, files, expected, problems),
        COMPARISON: comparison_part(points[COMPARISON], table, ran.found, context),
    }
    return parts, ({"models": ran.run} if ran.run else {}), ran.fingerprints


def expected_networks(metrics_file: Path, context: Context) -> tuple[dict[str, Reference], dict[str, str]]:
    """The reference network each file must fit, and why there is none for a model (pure but for one read)."""
    expected, problems = {"lenet": context.lenet}, {}
    for model, by_width in (("vgg", context.vgg), ("mnist-transfer", context.transfer)):
        try:
            expected[model] = by_width[vgg_width(metrics_file, model, context.choices)]
        except RecordError as error:
            problems[model] = str(error)
    return expected, problems


@dataclass(frozen=True)
class Record:
    """Where a network's width is claimed, and what keeps file and claim from one run."""

    where: str
    advice: str


METRICS_RECORD = Record("artifacts/metrics.json", "keep the notebook's VGG_WIDTH and run the save cell again")
TABLE_RECORD = Record(f"its row in artifacts/{COMPARISON_TABLE}",
                      "keep COMPARED_WIDTHS and run the comparison and the save cell again")


def width_mismatch(path: Path, claimed: Reference, by_width: Mapping[float, Reference], record: Record) -> str | None:
    """When the file fits another of the notebook's widths than the one claimed, that, in one sentence."""
    try:
        header = torch_models.read_header(path)
    except torch_models.StateFileError:
        return None
    fits = [width for width, reference in by_width.items() if not torch_models.differences(header, reference)]
    if not fits:
        return None
    network = models_class_name(claimed.architecture)
    return (f"{path.name} holds {network} weights of width {fits[0]:g}, but {record.where} says width {claimed.width:g}. "
            f"The grader rebuilds the network from that record: {record.advice}, so that both come from the same run.")


def models_class_name(architecture: str) -> str:
    """``"VGG"`` for ``"vgg"``: the class :func:`labkit.models.build` makes, as the feedback names it."""
    from labkit.models import ARCHITECTURES

    return ARCHITECTURES[architecture].split(":")[1]


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable safetensors file at all, or None."""
    try:
        torch_models.read_header(path)
    except torch_models.StateFileError as error:
        return str(error)
    return None


def probed(context: Context, lenet_file: PartResult) -> list[notebook_parts.ProbedPart]:
    """The parts judged by a probe cell calling the notebook's own code (LeNet's with its file's result)."""
    points, folder = context.points, context.probes.scripts
    return [
        notebook_parts.ProbedPart(
            LENET_MODEL, points[LENET_MODEL], "LeNet", f"{LENET_IMAGES} images",
            notebook_parts.probe_cell("your LeNet class, on the grader's images.", "LeNet",
                                      folder / probes.LAB5_LENET.name),
            lambda out: lenet_class_part(lenet_file, context.lenet_images, out)),
        notebook_parts.ProbedPart(
            SPINAL_HEAD, points[SPINAL_HEAD], "SpinalHead", f"{len(HEADS)} heads on {HEAD_ROWS} rows of features",
            notebook_parts.probe_cell("your SpinalHead, built for the grader's shapes.", "SpinalHead",
                                      folder / probes.LAB5_SPINAL_HEAD.name),
            lambda out: spinal_head_part(SPINAL_HEAD, points[SPINAL_HEAD], context.head_inputs, out)),
        notebook_parts.ProbedPart(
            OPTIMIZERS, points[OPTIMIZERS], "pretrain_optimizer and finetune_optimizer",
            f"{STEPS} steps of a {LAYER_SHAPE[1]}-to-{LAYER_SHAPE[0]} linear layer",
            notebook_parts.probe_cell("your two optimizers, stepping a small layer.",
                                      "pretrain_optimizer, finetune_optimizer",
                                      folder / probes.LAB5_OPTIMIZERS.name),
            lambda out: optimizers_part(OPTIMIZERS, points[OPTIMIZERS], context.optimizers, out)),
        notebook_parts.ProbedPart(
            WEIGHTED_SCORES, points[WEIGHTED_SCORES], "weighted_scores", "two pairs of label arrays",
            notebook_parts.probe_cell("your weighted_scores on the grader's labels.", "weighted_scores",
                                      folder / probes.LAB5_WEIGHTED_SCORES.name),
            lambda out: weighted_scores_part(WEIGHTED_SCORES, points[WEIGHTED_SCORES], context.scores,
                                             context.macro_scores, out)),
    ]


# --- judging the networks ------------------------------------------------------------------------------


def lenet_model_part(points: float, found: Predictions, lenet: Reference, parameters: int,
                     images: int) -> PartResult:
    """A pass when lenet.safetensors fits models.LeNet(62) exactly and ran (its outputs came back)."""
    threshold = f"{parameters:,} parameters"
    if found.predictions is None:
        if found.verdict == "fail":
            return judged(LENET_MODEL, points, False, found.problem or "The LeNet gave no outputs.",
                          threshold=threshold)
        return not_judged(LENET_MODEL, points, found.verdict, found.problem or "The LeNet could not be run.")
    return judged(LENET_MODEL, points, True,
                  f"lenet.safetensors loads strictly into {lenet.describe()} (every tensor's name, shape and type: "
                  f"{lenet.parameter_count:,} parameters) and gives {CLASSES} scores for each of {images:,} images.",
                  value=f"{lenet.parameter_count:,} parameters", threshold=threshold)


def with_file_message(part: PartResult, file_part: PartResult) -> PartResult:
    """``test-lenet-model`` failed on the notebook's side: say what the file check found too."""
    if part.verdict == "pass" or file_part.verdict == "pass" or file_part.message in part.message:
        return part
    return dataclasses.replace(part, message=f"{part.message} {file_part.message}")


def lenet_class_part(file_part: PartResult, images: np.ndarray, out: OutputFolder) -> tuple[PartResult, bool]:
    """The file's verdict, unless the notebook's LeNet computes another function than models.LeNet.

    The probe returns a new ``LeNet(num_classes=62)``'s state dict and its outputs
    in evaluation mode; loaded into the reference, the same weights must give the
    same outputs. A file can fit the reference while the class differs (an
    activation or the order of layers without weights), which this catches.
    """
    import torch
    from safetensors.torch import load

    from labkit import models

    raw = _read_or_none(out.read_bytes, "lenet.safetensors", 8 * 2**20)
    if raw is None:
        return judged(LENET_MODEL, file_part.max_points, False, "LeNet gave nothing back."), False
    problem = None
    try:
        reference = models.LeNet(num_classes=CLASSES).eval()
        reference.load_state_dict(load(raw), strict=True)
    except Exception as error:  # safetensors' refusal, or tensors that do not fit
        problem = (f"Your LeNet class's layers are not the table's: its state dict does not fit "
                   f"models.LeNet(num_classes=62) ({str(error)[:300]}).")
    outputs = _read_or_none(out.read_array, "outputs.npy", 2**20)
    if problem is None and (outputs is None or outputs.shape != (len(images), CLASSES) or outputs.dtype.kind != "f"):
        problem = f"Your LeNet did not give {CLASSES} scores for each of {len(images)} images."
    if problem is None:
        with torch.no_grad():
            wanted = reference(torch.from_numpy(images)).numpy()
        if not np.allclose(outputs, wanted, rtol=1e-4, atol=1e-5):
            problem = (f"Your LeNet class computes another function than the table's network with the same weights "
                       f"(outputs differ by up to {float(np.max(np.abs(outputs - wanted))):.3g} on {len(images)} "
                       "images): check the activations and the order of the layers in __init__ and forward.")
    if problem is None:
        return file_part, True
    return judged(LENET_MODEL, file_part.max_points, False, f"{problem} {file_part.message}".strip()
                  if file_part.verdict != "pass" else problem, value=file_part.value,
                  threshold=file_part.threshold), True


def transfer_part(points: float, found: Predictions, context: Context, files: Mapping[str, Path],
                  expected: Mapping[str, Reference], problems: Mapping[str, str]) -> PartResult:
    """MNIST accuracy vs the target, and the feature extractor's parameters unchanged from the VGG's."""
    result = accuracy_part(TRANSFER, points, found, context.mnist, context.targets["mnist-transfer"],
                           "Your transferred VGG")
    if found.predictions is None:
        return result
    vgg, transfer = expected.get("vgg"), expected["mnist-transfer"]
    if "vgg" in problems:
        frozen_problem = f"Whether its features were frozen cannot be checked: {problems['vgg']}"
    elif transfer.width != vgg.width:
        frozen_problem = (f"Its width ({transfer.width:g}) is not your VGG's ({vgg.width:g}): transfer a copy "
                          "of the VGG itself.")
    else:
        names = sorted(name for name in vgg.parameters if name.startswith("features."))
        changed = torch_models.changed_tensors(files["vgg"], files["mnist-transfer"], names)
        if not changed:
            return dataclasses.replace(result, message=f"{result.message} Its {len(names)} feature-extractor "
                                       "parameters are those of vgg.safetensors: the features were frozen.")
        frozen_problem = (
            f"{len(changed)} of the {len(names)} parameters of its feature extractor differ from vgg.safetensors' "
            f"(e.g. {', '.join(changed[:3])}): the features were trained, not frozen. Call "
            "transfer.features.requires_grad_(False) before making the optimizer, and give it only the "
            "parameters that still require gradients.")
    return judged(TRANSFER, points, False, f"{result.message} {frozen_problem}", value=result.value,
                  threshold=result.threshold)


# --- the comparison: the student's table against the grader's measurement of each saved network ------------


SCORES = ("accuracy", "precision", "recall", "f1")
"""What each row of the table reports, as ``weighted_scores`` returns it."""


class TableError(ValueError):
    """``comparison.json`` is not a table the grader can check; the message says what to fix."""


@dataclass(frozen=True)
class ComparedRow:
    """One row of the student's table, read as data: what it claims about one network."""

    network: str
    width: float  # one of the comparison's widths for this network
    file: str  # its own file, COMPARED[network]
    scores: dict[str, float]  # SCORES -> a fraction
    parameters: int
    train_seconds: float


@dataclass(frozen=True)
class ComparedTable:
    """The table as read: its rows, or why it is unusable, and why a row's file cannot be measured."""

    rows: tuple[ComparedRow, ...] = ()
    problem: str | None = None
    file_problems: Mapping[str, str] = dataclasses.field(default_factory=dict)  # network -> why

    def runs(self, artifacts: Path, references: Mapping[str, Mapping[float, Reference]],
             evaluation: torch_models.EvaluationSet) -> list[torch_models.ModelRun]:
        """The sandbox runs that measure each row's file on the table's images."""
        return [torch_models.ModelRun(run_name(row.network), artifacts / row.file,
                                      references[row.network][row.width], evaluation)
                for row in self.rows if row.network not in self.file_problems]


def run_name(network: str) -> str:
    """``"compare-vgg"``: the name the compared network's predictions and fingerprint go by."""
    return Path(COMPARED[network]).stem


def compared_table(artifacts: Path, references: Mapping[str, Mapping[float, Reference]]) -> ComparedTable:
    """``comparison.json``'s rows checked as data, and each row's file against its network and every other file."""
    widths = {network: tuple(by_width) for network, by_width in references.items()}
    try:
        rows = read_table(artifacts / COMPARISON_TABLE, widths)
    except TableError as error:
        return ComparedTable(problem=str(error))
    problems = {}
    for row in rows:
        path, reference = artifacts / row.file, references[row.network][row.width]
        problem = torch_models.checked_file(path, reference, f"the compared {row.network}")
        if problem is not None:
            problems[row.network] = width_mismatch(path, reference, references[row.network], TABLE_RECORD) or problem
    others = [artifacts / name for name in [*FILES.values(), *COMPARED.values()]]
    for row in rows:
        twin = None if row.network in problems else same_weights_as(artifacts / row.file, others)
        if twin is not None:
            problems[row.network] = (
                f"{row.file} holds the very weights of {twin.name}: each network of the comparison is a new one, "
                "trained on the budget (train_on_budget), and saved in its own file by the save cell.")
    return ComparedTable(tuple(rows), None, problems)


def read_table(path: Path, widths: Mapping[str, tuple[float, ...]]) -> list[ComparedRow]:
    """The rows of ``comparison.json``, one per compared network in :data:`COMPARED`'s order, each checked
    as data (pure but for one read); :class:`TableError` names the first problem."""
    where = f"artifacts/{COMPARISON_TABLE}"
    try:
        data = read_bytes(path.parent, path.name, handin.MAX_METRICS_BYTES)
    except FileNotFoundError:
        raise TableError(f"{where} is missing: write the comparison of exercise 5, run the save cell and hand in "
                         "the artifacts/ folder.") from None
    except OutputRefused as refused:
        raise TableError(f"{where} was not read: {refused}") from None
    try:
        rows = loads_json(data, max_bytes=handin.MAX_METRICS_BYTES)["rows"]
        if not isinstance(rows, list):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise TableError(f"{where} holds no readable list of rows: run the save cell again.") from None
    found: dict[str, ComparedRow] = {}
    for row in rows:
        compared = compared_row(row, widths)
        if compared.network in found:
            raise TableError(f"{where} has two rows for {compared.network}: one row per network.")
        found[compared.network] = compared
    missing = [network for network in COMPARED if network not in found]
    if missing:
        raise TableError(f"{where} has no row for {', '.join(missing)}: the comparison trains and measures every "
                         f"network of COMPARED_WIDTHS ({', '.join(COMPARED)}).")
    return [found[network] for network in COMPARED]


def compared_row(row: object, widths: Mapping[str, tuple[float, ...]]) -> ComparedRow:
    """One row as data: a network of the comparison, its own file, one of its widths, scores, count and time."""
    network = row.get("network") if isinstance(row, dict) else None
    if not isinstance(network, str) or network not in COMPARED:
        raise TableError(f"A row of the table is for {str(network)[:40]!r}, not one of the networks compared "
                         f"({', '.join(COMPARED)}).")
    if row.get("file") != COMPARED[network]:
        raise TableError(f"The row of {network} names the file {str(row.get('file'))[:60]!r}, not its own, "
                         f"{COMPARED[network]}: a file behind another row, or another model's file, is no "
                         f"measurement of this {network}.")
    try:
        width = finite_float(row.get("width"))
        scores = {score: finite_float(row.get(score), low=0.0, high=1.0) for score in SCORES}
        seconds = finite_float(row.get("train_seconds"))
        parameters = row.get("parameters")
        if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 0:
            raise UntrustedDataError(f"{str(parameters)[:40]!r} is not a count of parameters")
    except UntrustedDataError as error:
        raise TableError(f"The row of {network} does not hold what the exercise asks for ({error}): "
                         f"{', '.join(SCORES)} as fractions, parameters as a count, train_seconds.") from None
    offered = [w for w in widths[network] if math.isclose(width, w)]
    if not offered:
        raise TableError(f"The row of {network} says width {width:g}; the comparison trains {network} at width "
                         f"{' or '.join(f'{w:g}' for w in widths[network])} (COMPARED_WIDTHS).")
    if not 0 < seconds <= MAX_TRAIN_SECONDS:
        raise TableError(f"The row of {network} says it trained for {seconds:g} s: a training time is positive "
                         f"and at most {MAX_TRAIN_SECONDS:g} s.")
    return ComparedRow(network, offered[0], COMPARED[network], scores, parameters, seconds)


def same_weights_as(path: Path, others: list[Path]) -> Path | None:
    """Another file among ``others`` that holds the very tensors of ``path`` (a checked file), or None.

    Only a file with the same header can; its values are compared as data, never loaded as code.
    """
    header = torch_models.read_header(path)
    for other in others:
        if other == path:
            continue
        try:
            same_layout = torch_models.read_header(other) == header
        except torch_models.StateFileError:
            continue
        if same_layout and not torch_models.changed_tensors(path, other, sorted(header)):
            return other
    return None


def comparison_part(points: float, table: ComparedTable, found: Mapping[str, Predictions],
                    context: Context) -> PartResult:
    """Every row against the grader's measurement of its file; a pass only when all rows are."""
    total = len(COMPARED)
    threshold = f"{total} of {total} rows"
    if table.problem is not None:
        return judged(COMPARISON, points, False, table.problem, value=f"0 of {total} rows", threshold=threshold)
    labels, floor = context.comparison.labels, context.compared_floor
    problems: dict[str, str] = dict(table.file_problems)
    for row in table.rows:
        if row.network in problems:
            continue
        ran = found.get(run_name(row.network)) or Predictions(problem=f"{row.file} gave no predictions.")
        if ran.predictions is None:
            if ran.verdict != "fail":  # the sandbox stopped: not the student's doing, graded again
                return not_judged(COMPARISON, points, ran.verdict, ran.problem or f"{row.file} could not be run.")
            problems[row.network] = ran.problem or f"{row.file} gave no predictions."
            continue
        measured = reference_scores(labels, ran.predictions.argmax(axis=1))
        parameters = context.compared[row.network][row.width].parameter_count
        problem = row_differences(row, measured, parameters)
        if problem is None and measured["accuracy"] < floor:
            problem = (f"{row.file} reaches {measured['accuracy']:.2%} on the held-out images, below the "
                       f"{floor:.0%} every network of the comparison must reach: train it with train_on_budget "
                       "before measuring it.")
        if problem is not None:
            problems[row.network] = problem
    value = f"{total - len(problems)} of {total} rows"
    if problems:
        shown = [problems[network] for network in COMPARED if network in problems]
        more = f" ({len(shown) - 3} more rows are wrong.)" if len(shown) > 3 else ""
        return judged(COMPARISON, points, False, " ".join(shown[:3]) + more, value=value, threshold=threshold)
    return judged(COMPARISON, points, True,
                  f"Each of the {total} rows of {COMPARISON_TABLE} is the grader's own measurement of its network's "
                  f"saved weights on {context.comparison.description}: accuracy and weighted precision, recall "
                  f"and F1 within {SCORE_TOLERANCE * 100:g} points, the parameters exactly, a plausible training "
                  f"time; every network reaches at least {floor:.0%}.", value=value, threshold=threshold)


def row_differences(row: ComparedRow, measured: Mapping[str, float], parameters: int) -> str | None:
    """What a row claims that its file's measurement does not bear out, in one sentence, or None."""
    wrong = [score for score in SCORES if abs(row.scores[score] - measured[score]) > SCORE_TOLERANCE]
    claimed = [f"{score} {row.scores[score]:.2%}" for score in wrong]
    actual = [f"{measured[score]:.2%}" for score in wrong]
    if row.parameters != parameters:
        claimed.append(f"{row.parameters:,} parameters")
        actual.append(f"{parameters:,}")
    if not claimed:
        return None
    return (f"The row of {row.network} says {', '.join(claimed)}; the grader measures {', '.join(actual)} from "
            f"{row.file} (scores within {SCORE_TOLERANCE * 100:g} points, parameters exactly): the table must be "
            "measured from the networks it saves.")


# --- judging what the probe cells brought back ----------------------------------------------------------


def _read_or_none(read, name: str, max_bytes: int):
    """``read(name, max_bytes)``, an :class:`OutputFolder` reader of what a probe left; None when there
    is no such file or it is refused."""
    try:
        return read(name, max_bytes)
    except (FileNotFoundError, OutputRefused, OSError):
        return None


def spinal_head_part(part: str, points: float, inputs: list[np.ndarray], out: OutputFolder) -> tuple[PartResult, bool]:
    """The student's heads against models.SpinalHead with the same weights, on the same inputs."""
    import torch
    from safetensors.torch import load

    from labkit import models

    if _read_or_none(out.read_bytes, "head-0.safetensors", 64 * 2**20) is None:
        return judged(part, points, False, "SpinalHead gave nothing back."), False
    dropout_seen = False
    for k, (in_features, units, num_classes, layers) in enumerate(HEADS):
        shape = f"SpinalHead({in_features}, {units}, {num_classes}, layers={layers})"
        try:
            state = load(_read_or_none(out.read_bytes, f"head-{k}.safetensors", 64 * 2**20))
        except Exception as error:  # no file, or safetensors' own refusal of what is there
            return judged(part, points, False, f"{shape}'s weights could not be read: {str(error)[:300]}"), True
        outputs = _read_or_none(out.read_arrays, f"outputs-{k}.npz", 2**20)
        rows = (len(inputs[k]), num_classes)
        if not isinstance(outputs, dict) or any(
                np.shape(outputs.get(key)) != rows or np.asarray(outputs.get(key)).dtype.kind != "f"
                for key in ("eval_first", "eval_second", "train")):
            return judged(part, points, False, f"{shape} did not give {rows[1]} scores for each of {rows[0]} "
                          "rows of features: forward must return the classifier's output."), True
        reference = models.SpinalHead(in_features, units, num_classes, layers=layers).eval()
        try:
            reference.load_state_dict(state, strict=True)
        except RuntimeError as error:
            return judged(part, points, False, f"{shape}'s layers are not the given ones (keep __init__ as it "
                          f"is): {str(error)[:300]}"), True
        with torch.no_grad():
            wanted = reference(torch.from_numpy(inputs[k])).numpy()
        if not np.array_equal(outputs["eval_first"], outputs["eval_second"]):
            return judged(part, points, False, f"{shape} gave two different outputs for the same features in "
                          "evaluation mode: pass training=self.training to F.dropout."), True
        if not np.allclose(outputs["eval_first"], wanted, rtol=1e-4, atol=1e-5):
            gap = float(np.max(np.abs(outputs["eval_first"] - wanted)))
            return judged(part, points, False, f"{shape}'s outputs differ from the reference's with the same "
                          f"weights by up to {gap:.3g}: the layers read the wrong inputs. Layer 1 reads the first "
                          "half of the features; each next layer reads the other half than the layer before, "
                          "together with that layer's output; the classifier reads all the layers' outputs."), True
        dropout_seen |= not np.array_equal(outputs["train"], outputs["eval_first"])
    if not dropout_seen:
        return judged(part, points, False, "In training mode SpinalHead gave the same outputs as in evaluation "
                      "mode: dropout must be active while training (F.dropout(..., training=self.training))."), True
    return judged(part, points, True, f"For {len(HEADS)} head shapes, SpinalHead gives the outputs of the reference "
                  "head with the same weights, deterministically in evaluation mode, with dropout in training mode.",
                  value=f"{len(HEADS)} of {len(HEADS)} heads", threshold=f"{len(HEADS)} of {len(HEADS)} heads"), True


def optimizers_part(part: str, points: float, reference: OptimizerReference, out: OutputFolder) -> tuple[PartResult, bool]:
    """The weights after the student's optimizers' steps, against torch's SGD and Adam doing the same steps."""
    found = _read_or_none(out.read_arrays, "after.npz", 2**20)
    if found is None:
        return judged(part, points, False, "The optimizers gave no readable weights back."), out.exists("after.npz")
    if any(np.shape(found.get(key)) != want.shape or np.asarray(found.get(key)).dtype.kind != "f"
           for key, want in reference.expected.items()):
        return judged(part, points, False, "The optimizers changed the shape or type of the layer's weights."), True
    wrong = [key for key, want in reference.expected.items() if not _same_weights(found[key], want)]
    wrong_settings = sorted({int(key.split("_")[1]) for key in wrong if key.startswith("pretrain")})
    wrong_adam = any(key.startswith("finetune") for key in wrong)
    optimizers = len(SETTINGS) + 1
    value, threshold = (f"{optimizers - len(wrong_settings) - wrong_adam} of {optimizers} optimizers",
                        f"{optimizers} of {optimizers} optimizers")
    problems = []
    if wrong_settings:
        problems.append(f"pretrain_optimizer's steps differ from torch.optim.SGD(lr=learning_rate, momentum=momentum, "
                        f"weight_decay=weight_decay) for {'; '.join(str(SETTINGS[k]) for k in wrong_settings)}"
                        f"{_matches(found, reference, 'pretrain')}: take all three from the setting.")
    if wrong_adam:
        problems.append(f"finetune_optimizer's steps differ from torch.optim.Adam(lr=FINETUNE_LEARNING_RATE = "
                        f"{reference.finetune_learning_rate:g}){_matches(found, reference, 'finetune')}.")
    if problems:
        return judged(part, points, False, f"After {STEPS} steps with the grader's gradients: " + " ".join(problems),
                      value=value, threshold=threshold), True
    return judged(part, points, True, f"After {STEPS} steps with the grader's gradients, pretrain_optimizer matches "
                  f"torch.optim.SGD for {len(SETTINGS)} settings of the grid (with and without momentum and weight "
                  f"decay) and finetune_optimizer matches Adam(lr={reference.finetune_learning_rate:g}).",
                  value=value, threshold=threshold), True


def _same_weights(found: np.ndarray, wanted: np.ndarray) -> bool:
    """Equal up to float64 rounding: a different optimizer differs by far more after three steps."""
    return bool(np.allclose(found, wanted, rtol=1e-9, atol=1e-12))


def _matches(found: dict, reference: OptimizerReference, prefix: str) -> str:
    """", which is what <mistake> does" when the weights match a known mistake, else ""."""
    for mistake, weights in reference.mistakes.items():
        keys = [key for key in weights if key.startswith(prefix)]
        if keys and all(_same_weights(found[key], weights[key]) for key in keys):
            return f", and match what {mistake} does"
    return ""


def weighted_scores_part(part: str, points: float, expected: list[dict[str, float]],
                         macro: list[dict[str, float]], out: OutputFolder) -> tuple[PartResult, bool]:
    """The four scores for each label pair against scikit-learn's weighted averages."""
    raw = _read_or_none(out.read_bytes, "scores.json", 2**16)
    if raw is None:
        return judged(part, points, False, "weighted_scores gave no scores back."), False
    try:
        found = loads_json(raw, max_bytes=2**16)
        rows = [{name: finite_float(row[name]) for name in expected[0]} for row in found]
        if len(rows) != len(expected) or not all(math.isfinite(v) for row in rows for v in row.values()):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        return judged(part, points, False, "weighted_scores' scores are not four finite numbers per call."), True
    wrong = sorted({name for row, want in zip(rows, expected) for name in want
                    if not math.isclose(row[name], want[name], abs_tol=1e-6)})
    if not wrong:
        return judged(part, points, True, f"weighted_scores gives scikit-learn's accuracy and weighted precision, "
                      f"recall and F1 on {len(expected)} pairs of label arrays (62 unbalanced classes, some never "
                      "predicted; 7 even ones).", value="4 of 4 scores", threshold="4 of 4 scores"), True
    hint = ""
    if all(math.isclose(row[name], want[name], abs_tol=1e-6) for row, want in zip(rows, macro) for name in wrong):
        hint = (" These are macro averages (every class counts the same); weigh each class by its support: "
                "average=\"weighted\".")
    detail = ", ".join(f"{name} {rows[0][name]:.4f} (expected {expected[0][name]:.4f})" for name in wrong)
    return judged(part, points, False, f"On 62 unbalanced classes weighted_scores gives {detail}.{hint} Use "
                  "precision_recall_fscore_support(y_true, y_pred, average=\"weighted\", zero_division=0).",
                  value=f"{4 - len(wrong)} of 4 scores", threshold="4 of 4 scores"), True
