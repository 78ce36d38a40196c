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
``test-random-search``    the notebook's ``random_search``, run by a probe cell for three seeds on the
                          grader's small problem (a linear classifier that always starts from the same
                          weights, a grid with a diverging learning rate): distinct settings of the grid,
                          one new model per trial, each trial's validation loss and accuracy those the
                          grader's own training with ``torch.optim.SGD`` gives (``inf`` if it diverged),
                          best first, draws that vary with the seed
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
                          precision, recall and F1 on the held-out sample within ``SCORE_TOLERANCE``,
                          the parameter count exact, the training time positive and at most
                          ``MAX_TRAIN_SECONDS``, and every network at least ``COMPARED_FLOOR``
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
this grader does, with the held-out samples' sizes).

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

**The judges** are in :mod:`autograder.scoring`: ``torch_models`` (the saved
networks), ``comparison_tables`` (the table, ``SCORE_TOLERANCE``,
``MAX_TRAIN_SECONDS``), ``torch_code`` (the LeNet class, the SpinalHead),
``random_search`` and ``weighted_scores``; this file declares what is graded and wires
each part to its judge (:func:`network_parts`, :func:`probed`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.comet import review as comet_review
from autograder.graders import LabGrader
from autograder.pipeline import notebook_parts, notebook_run, source
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import Graded, PartResult, accuracy_part, gated
from autograder.sandbox.untrusted import loads_json
from autograder.scoring import comparison_tables, evaluation_sets, random_search, torch_code, torch_models
from autograder.scoring.torch_models import Predictions, Reference
from autograder.scoring.weighted_scores import reference_scores, weighted_scores_part, write_label_pairs
from labkit import handin
from labkit import settings as shared

LAB = "lab5-emnist-deep-models"
CLASSES, MNIST_CLASSES = 62, 10
NORMALIZATION = shared.value(LAB, "NORMALIZATION")  # the notebook's NORMALIZATION, for EMNIST and MNIST alike
LENET_MODEL, LENET_ACCURACY = "test-lenet-model", "test-lenet-accuracy"
SPINAL_HEAD, RANDOM_SEARCH = "test-spinal-head", "test-random-search"
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
COMPARISON_SPEC = comparison_tables.TableSpec(
    COMPARISON, COMPARISON_TABLE, COMPARED, tuple(FILES.values()), exercise="the comparison of exercise 5",
    widths_name="COMPARED_WIDTHS", train_function="train_on_budget")
METRICS_RECORD = torch_models.WidthRecord("artifacts/metrics.json",
                                          "keep the notebook's VGG_WIDTH and run the save cell again")


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


# --- the images the networks are scored on -----------------------------------------------------------------


def stratified_sample(images: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``size`` of the images, stratified, drawn with :data:`SAMPLE_SEED` (as the notebook's)."""
    import labkit

    return labkit.data.stratified_subset(images, labels, min(size, len(labels)), seed=SAMPLE_SEED)


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


@dataclass(frozen=True)
class Context:
    """What every submission of a batch is graded against."""

    points: dict[str, float]
    targets: dict[str, float]
    lenet: Reference
    choices: VGGChoices
    vgg: dict[float, Reference]  # width -> VGG(62, width, **options)
    transfer: dict[float, Reference]  # width -> VGG(10, width, **options)
    emnist: torch_models.EvaluationSet
    mnist: torch_models.EvaluationSet
    comparison: comparison_tables.Comparison  # measured on the default held-out sample, as the table was
    probes: notebook_run.ProbeFolders
    lenet_images: np.ndarray
    head_inputs: list[np.ndarray]
    search: random_search.Reference
    scores: list[dict[str, float]]  # scikit-learn's weighted scores of each label pair
    macro_scores: list[dict[str, float]]
    released: object
    options: GradingOptions


class Grader(LabGrader):
    lab = LAB
    sampled_images = EMNIST_IMAGES  # of the held-out images its notebook tests on

    def setup(self, scratch: Path, options: GradingOptions) -> Context:
        """Evaluation images, the probes' inputs and every reference result, once per batch."""
        import labkit

        solution, points = self.read_source({LENET_MODEL, LENET_ACCURACY, SPINAL_HEAD, RANDOM_SEARCH, VGG_ACCURACY,
                                             WEIGHTED_SCORES, COMPARISON, TRANSFER})
        lenet_parameters = int(source.architecture_check(solution, LENET_MODEL).check["params"])
        lenet = torch_models.reference("lenet", CLASSES, 1.0, {})
        if lenet.parameter_count != lenet_parameters:
            raise RuntimeError(f"models.LeNet has {lenet.parameter_count:,} parameters, the hidden test of "
                               f"{LENET_MODEL} {lenet_parameters:,}: the reference and the notebook disagree.")
        choices, secret, evaluation = vgg_choices(), options.secret, scratch / "evaluation"

        held_out = held_out_sample()
        emnist = torch_models.write_images(evaluation, "emnist", evaluation_sets.images_for(
            options.evaluation_dir, LAB, CLASSES, lambda: held_out), NORMALIZATION,
            secret.rng(f"{LAB}/perturbed-copies"))
        mnist = torch_models.write_images(evaluation, "mnist", evaluation_sets.images_for(
            options.evaluation_dir, LAB, MNIST_CLASSES, mnist_sample, prefix="mnist_", what="MNIST images"),
            NORMALIZATION, secret.rng(f"{LAB}/perturbed-copies/mnist"))
        comparison = comparison_tables.Comparison(
            COMPARISON_SPEC, {network: {w: torch_models.reference(network, CLASSES, w, {}) for w in widths}
                              for network, widths in compared_widths().items()},
            torch_models.write_images(evaluation, "comparison", held_out, NORMALIZATION, None),
            float(shared.value(LAB, "COMPARED_FLOOR", options.profile)))

        folders = notebook_run.probe_folders(scratch, [probes.LAB5_LENET, probes.LAB5_SPINAL_HEAD,
                                                      probes.LAB5_RANDOM_SEARCH, probes.LAB5_WEIGHTED_SCORES])
        inputs = folders.inputs  # each probe's inputs, drawn from the run's secret
        lenet_images = torch_code.write_lenet_inputs(inputs, np.load(emnist.folder / "emnist.npy"),
                                                     secret.rng(f"{LAB}/lenet"))
        heads = torch_code.write_head_inputs(inputs, secret.rng(f"{LAB}/spinal-head"))
        search = random_search.write_inputs(inputs, secret.rng(f"{LAB}/random-search"))
        label_pairs = write_label_pairs(inputs, secret.rng(f"{LAB}/weighted-scores"))
        for folder in (scratch, emnist.folder):
            sandbox.readable_by_all(folder)
        return Context(
            points, {model: labkit.targets.target(LAB, model, options.profile) for model in FILES}, lenet, choices,
            {w: torch_models.reference("vgg", CLASSES, w, choices.options) for w in choices.widths},
            {w: torch_models.reference("vgg", MNIST_CLASSES, w, choices.options) for w in choices.widths},
            emnist, mnist, comparison, folders, lenet_images, heads, search,
            [reference_scores(*pair) for pair in label_pairs],
            [reference_scores(*pair, "macro") for pair in label_pairs],
            source.read(self.released_notebook()), options)

    def grade(self, copy: Path, context: Context) -> Graded:
        # What was handed in is read before the notebook runs in the same folder and could change it.
        parts, runs, fingerprints = network_parts(copy / "artifacts", context)
        file_part = parts[LENET_MODEL]  # judged again with the notebook's LeNet class
        probed_parts, tests, notes = notebook_parts.grade(
            copy, LAB, context.released, context.probes, probed(context, file_part), list(context.points),
            context.options, runs, skip=SKIP)
        parts.update(probed_parts)
        parts[LENET_MODEL] = torch_code.with_file_message(parts[LENET_MODEL], file_part)
        return Graded(tuple(parts[part] for part in context.points), tests, tuple(notes), fingerprints, runs)

    def comet_review(self, results) -> list[dict]:
        """The review index's rows: the VGG's run is named after its width (``vgg width 0.5 batch norm``)."""
        choices = vgg_choices()
        names = COMET_MODELS | {f"vgg width {w:g} batch norm": "vgg" for w in choices.widths} \
            | {f"vgg width {w} batch norm": "vgg" for w in choices.widths}
        models = {"lenet": (LENET_MODEL, LENET_ACCURACY), "vgg": (VGG_ACCURACY, VGG_ACCURACY)}
        return comet_review.review_rows(results, models, names)


# --- each part, wired to its judge ---------------------------------------------------------------------------


def network_parts(artifacts: Path, context: Context) -> tuple[dict[str, PartResult], dict, dict]:
    """The five parts judged from the saved networks, the sandbox run that measured them, and the
    weights' fingerprint of each network that ran."""
    points = context.points
    files = {model: artifacts / name for model, name in FILES.items()}
    expected, problems = expected_networks(artifacts / "metrics.json", context)
    for model in problems:  # a missing or unreadable file says more than a missing record
        problems[model] = torch_models.file_problem(files[model]) or problems[model]
    to_run = []
    for model, reference in expected.items():
        problem = torch_models.checked_file(files[model], reference, f"the {model} network")
        if problem is None:
            evaluation = context.mnist if model == "mnist-transfer" else context.emnist
            to_run.append(torch_models.ModelRun(model, files[model], reference, evaluation))
        else:
            by_width = {"vgg": context.vgg, "mnist-transfer": context.transfer}.get(model, {})
            problems[model] = torch_models.width_mismatch(files[model], reference, by_width, METRICS_RECORD) \
                or problem
    table = comparison_tables.compared_table(context.comparison, artifacts)
    to_run += table.runs(artifacts, context.comparison)
    ran = torch_models.run_models(to_run, context.options.probe_limits)
    found = {model: ran.found.get(model) or Predictions(problem=problems[model]) for model in FILES}
    lenet_file = torch_models.fitted_part(LENET_MODEL, points[LENET_MODEL], found["lenet"], context.lenet,
                                          FILES["lenet"], "The LeNet", len(context.emnist.labels))
    lenet_accuracy = accuracy_part(LENET_ACCURACY, points[LENET_ACCURACY], found["lenet"], context.emnist,
                                   context.targets["lenet"], "Your LeNet")
    parts = {
        LENET_MODEL: lenet_file,
        # gated on the file's own check (the notebook's class is judged later): same file, same weights
        LENET_ACCURACY: gated(lenet_accuracy, lenet_file, FILES["lenet"]),
        VGG_ACCURACY: accuracy_part(VGG_ACCURACY, points[VGG_ACCURACY], found["vgg"], context.emnist,
                                    context.targets["vgg"], "Your VGG"),
        TRANSFER: transfer_part(points[TRANSFER], found["mnist-transfer"], context, files, expected, problems),
        COMPARISON: comparison_tables.comparison_part(context.comparison, points[COMPARISON], table, ran.found),
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


def probed(context: Context, lenet_file: PartResult) -> list[notebook_parts.ProbedPart]:
    """The parts judged by a probe cell calling the notebook's own code (LeNet's with its file's result)."""
    points, folder = context.points, context.probes.scripts
    return [
        notebook_parts.ProbedPart(
            LENET_MODEL, points[LENET_MODEL], "LeNet", f"{torch_code.LENET_IMAGES} images",
            notebook_parts.probe_cell("your LeNet class, on the grader's images.", "LeNet",
                                      folder / probes.LAB5_LENET.name),
            lambda out: torch_code.lenet_class_part(lenet_file, context.lenet_images, out)),
        notebook_parts.ProbedPart(
            SPINAL_HEAD, points[SPINAL_HEAD], "SpinalHead",
            f"{len(torch_code.HEADS)} heads on {torch_code.HEAD_ROWS} rows of features",
            notebook_parts.probe_cell("your SpinalHead, built for the grader's shapes.", "SpinalHead",
                                      folder / probes.LAB5_SPINAL_HEAD.name),
            lambda out: torch_code.spinal_head_part(SPINAL_HEAD, points[SPINAL_HEAD], context.head_inputs, out)),
        notebook_parts.ProbedPart(
            RANDOM_SEARCH, points[RANDOM_SEARCH], "random_search",
            f"{random_search.SEEDS} searches of {random_search.TRIALS} trials on a small problem",
            notebook_parts.probe_cell("your random search, on the grader's small problem.", "random_search, DEVICE",
                                      folder / probes.LAB5_RANDOM_SEARCH.name),
            lambda out: random_search.random_search_part(RANDOM_SEARCH, points[RANDOM_SEARCH], context.search, out)),
        notebook_parts.ProbedPart(
            WEIGHTED_SCORES, points[WEIGHTED_SCORES], "weighted_scores", "two pairs of label arrays",
            notebook_parts.probe_cell("your weighted_scores on the grader's labels.", "weighted_scores",
                                      folder / probes.LAB5_WEIGHTED_SCORES.name),
            lambda out: weighted_scores_part(WEIGHTED_SCORES, points[WEIGHTED_SCORES], context.scores,
                                             context.macro_scores, out)),
    ]


def transfer_part(points: float, found: Predictions, context: Context, files: Mapping[str, Path],
                  expected: Mapping[str, Reference], problems: Mapping[str, str]) -> PartResult:
    """MNIST accuracy vs the target, and the feature extractor's parameters unchanged from the VGG's."""
    result = accuracy_part(TRANSFER, points, found, context.mnist, context.targets["mnist-transfer"],
                           "Your transferred VGG")
    if found.predictions is None:
        return result
    return torch_models.with_frozen_features(result, files["vgg"], files["mnist-transfer"], expected.get("vgg"),
                                             expected["mnist-transfer"], problems.get("vgg"), variable="transfer")
