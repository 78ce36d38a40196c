"""Grading lab 5 end to end: real notebooks, real sandboxes, the real saved networks, one class graded once.

The class, graded in one batch with two workers under the quick profile's targets:

* ``reference`` and ``reference-copy``: the solution notebook run once in the
  quick profile, as a student would, with its artifacts;
* ``untouched``: the released student notebook, no artifacts;
* four seeded bugs in the notebook, each with the reference's artifacts: a
  LeNet class with tanh for its first activation (its file still fits),
  SpinalHead reading the wrong halves, SGD without weight decay, macro instead
  of weighted averages;
* three hand-ins of artifacts only (no notebook, so no notebook run and no
  point for LeNet's class: the networks' parts are what they test): a transfer model whose features were
  trained (not frozen), a ``metrics.json`` claiming a VGG width the file does
  not have, and forged files (a pickle with a payload as ``lenet.safetensors``,
  a link as ``vgg.safetensors``);
* five comparisons as a cheating student makes them from the reference's own, artifacts only: a table
  typed by hand, the main LeNet's file handed in as the compared LeNet (its row honestly measured),
  every row naming one file, a row for a network whose file was never saved, and a row claiming
  another of the comparison's widths than its file's;
* a forgery aimed at a probe: ``weighted_scores`` writes scikit-learn's answer
  where the probe writes, then raises.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.graders import lab5_emnist_deep_models as lab5
from autograder.pipeline.grading import grade
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import SubmissionResult, judged, read_result
from autograder.sandbox.output import OutputFolder
from autograder.scoring import comparison_tables, torch_code, weighted_scores
from benchmarks import full_marks
from tests.grading_class import grade_class, options, parts, ran_without, with_source
from tests.grading_class import summary as _summary
from tests.grading_class import write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab5.LAB
POINTS = {"test-lenet-model": 3, "test-lenet-accuracy": 2, "test-spinal-head": 3, "test-random-search": 2,
          "test-vgg-accuracy": 2, "test-weighted-scores": 2, "test-comparison": 5, "test-transfer": 1}
MODEL_PARTS = ("test-lenet-model", "test-lenet-accuracy", "test-vgg-accuracy", "test-comparison", "test-transfer")
NOTEBOOK_PARTS = ("test-spinal-head", "test-random-search", "test-weighted-scores")
NO_NOTEBOOK = ("test-lenet-model", *NOTEBOOK_PARTS)  # what a hand-in without its notebook loses

WRONG_HALVES = ("inputs = halves[i % 2] if i == 0 else torch.cat([halves[i % 2], outputs[-1]], dim=1)",
                "inputs = halves[i % 2] if i == 0 else torch.cat([halves[(i + 1) % 2], outputs[-1]], dim=1)")
ONE_MODEL = ("        model = make_model()\n", "        model = make_model() if not tried else model\n")
MACRO = ('average="weighted"', 'average="macro"')
TANH = ("nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(inplace=True)", "nn.Conv2d(1, 6, kernel_size=5), nn.Tanh()")

FORGE_SCORES = '''\
# Forge the probe's answer: find the grader's labels, write scikit-learn's scores where the probe writes,
# then raise.
import glob, json, pathlib
import numpy as np
from sklearn import metrics


def weighted_scores(y_true, y_pred):
    found = sorted(glob.glob("/tmp/**/labels.npz", recursive=True))
    out = pathlib.Path(".autograder-probe/test-weighted-scores")
    for path in found:
        with np.load(path) as data:
            scores = []
            for k in range(len(data.files) // 2):
                true, predicted = data[f"true_{k}"], data[f"predicted_{k}"]
                p, r, f, _ = metrics.precision_recall_fscore_support(true, predicted, average="weighted",
                                                                     zero_division=0)
                scores.append({"accuracy": metrics.accuracy_score(true, predicted), "precision": p,
                               "recall": r, "f1": f})
        out.mkdir(parents=True, exist_ok=True)
        (out / "scores.json").write_text(json.dumps(scores))
    raise RuntimeError(f"forged scores from {found}")
'''


class Payload:
    """Unpickling this makes a folder: the proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _with_source(cell_id: str, old: str, new: str):
    return with_source(solution_notebook(LAB), cell_id, old, new)


def _unfrozen(reference: Path, folder: Path) -> None:
    """The reference's transfer model with its features moved, as training them would."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(reference / "artifacts" / "mnist-transfer.safetensors"))
    generator = torch.Generator().manual_seed(0)
    for name in [name for name in state if name.startswith("features.") and name.endswith(".weight")]:
        state[name] = state[name] + 1e-3 * torch.randn(state[name].shape, generator=generator)
    save_file(state, str(folder / "artifacts" / "mnist-transfer.safetensors"))


def _typed_by_hand(table: dict, artifacts: Path) -> None:
    """Round, plausible numbers, the same for every network: what a table typed without measuring looks like."""
    for row in table["rows"]:
        row.update(accuracy=0.8, precision=0.79, recall=0.8, f1=0.78)


def _reused_lenet(table: dict, artifacts: Path) -> None:
    """The main LeNet (trained longer) handed in as the compared one, its row measured honestly from that file."""
    shutil.copyfile(artifacts / "lenet.safetensors", artifacts / "compare-lenet.safetensors")
    row = next(row for row in table["rows"] if row["network"] == "lenet")
    held_out = lab5.held_out_sample()
    predicted = _predicted(artifacts / "compare-lenet.safetensors", models_record(row), held_out.images,
                           held_out.labels)
    row.update(weighted_scores.reference_scores(held_out.labels, predicted))


def _one_file(table: dict, artifacts: Path) -> None:
    for row in table["rows"]:
        row["file"] = "compare-vgg.safetensors"


def _unsaved_ensnet(table: dict, artifacts: Path) -> None:
    (artifacts / "compare-ensnet.safetensors").unlink()


def _wrong_width(table: dict, artifacts: Path) -> None:
    row = next(row for row in table["rows"] if row["network"] == "vgg")
    assert row["width"] == 0.25
    row["width"] = 0.5  # another of the comparison's widths for a VGG: the file holds a width-0.25 one


CHEATS = {"typed-table": _typed_by_hand, "reused-lenet": _reused_lenet, "one-file-many-rows": _one_file,
          "unsaved-ensnet": _unsaved_ensnet, "wrong-width": _wrong_width}
"""Each cheating student's edit of the reference's comparison (``comparison.json`` and the files beside it)."""


def cheat(reference: Path, folder: Path, edit) -> None:
    """The reference's artifacts in ``folder``, their comparison edited by ``edit(table[, artifacts])``."""
    shutil.copytree(reference / "artifacts", folder / "artifacts")
    path = folder / "artifacts" / lab5.COMPARISON_TABLE
    table = json.loads(path.read_text())
    edit(table, folder / "artifacts")
    path.write_text(json.dumps(table))


def build_class(reference: Path, class_dir: Path, marker: Path | None = None) -> None:
    """The class in ``class_dir``; ``marker`` is where the pickle's payload would leave a trace if it ever ran."""
    import torch

    marker = marker or class_dir.parent / "payload-ran"

    ignore = shutil.ignore_patterns(".kernels")
    for student in ("reference", "reference-copy"):
        shutil.copytree(reference, class_dir / student / LAB, ignore=ignore)
    _write(nbformat.read(released_notebook(LAB), as_version=4), class_dir / "untouched" / LAB)
    for student, cell_id, change in (("bug-lenet-tanh", "lenet-model", TANH),
                                     ("bug-spinal-halves", "spinal-head", WRONG_HALVES),
                                     ("bug-search-one-model", "random-search", ONE_MODEL),
                                     ("bug-macro-scores", "weighted-scores", MACRO)):
        _write(_with_source(cell_id, *change), class_dir / student / LAB)
        shutil.copytree(reference / "artifacts", class_dir / student / LAB / "artifacts")
    forged = nbformat.read(released_notebook(LAB), as_version=4)
    next(c for c in forged.cells if c.get("id") == "weighted-scores").source = FORGE_SCORES
    _write(forged, class_dir / "forge-scores" / LAB)

    for student in ("unfrozen-transfer", "claimed-width", "forged-files"):
        shutil.copytree(reference / "artifacts", class_dir / student / LAB / "artifacts")
    _unfrozen(reference, class_dir / "unfrozen-transfer" / LAB)
    claimed = class_dir / "claimed-width" / LAB / "artifacts" / "metrics.json"
    record = json.loads(claimed.read_text())
    assert record["vgg"]["width"] == 0.25
    record["vgg"]["width"] = 0.5  # the file holds a width-0.25 VGG
    claimed.write_text(json.dumps(record))
    files = class_dir / "forged-files" / LAB / "artifacts"
    torch.save({"weights": Payload(marker)}, files / "lenet.safetensors")
    (files / "vgg.safetensors").unlink()
    (files / "vgg.safetensors").symlink_to(reference / "artifacts" / "vgg.safetensors")
    for student, edit in CHEATS.items():
        cheat(reference, class_dir / student / LAB, edit)


@pytest.fixture(scope="module")
def reference(solution_run) -> Path:
    """The solution notebook run once, as a student would, leaving its artifacts beside it."""
    return solution_run(LAB).folder


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab5-pickle") / "unpickled"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference, mirror_dir, marker) -> dict[str, SubmissionResult]:
    return grade_class(LAB, tmp_path_factory.mktemp("lab5-class"),
                       lambda folder: build_class(reference, folder, marker), mirror_dir)


def summary(result: SubmissionResult) -> dict:
    return _summary(result, 400)


def lost(result: SubmissionResult) -> set[str]:
    return {part.part for part in result.parts if part.verdict != "pass"}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_reference_solution_gets_full_marks_from_the_grader_s_own_measurements(graded, reference):
    import labkit

    result = graded["reference"]
    assert [part.part for part in result.parts] == list(POINTS)
    assert {p: part.points for p, part in parts(result).items()} == POINTS, summary(result)
    assert result.status == "graded" and result.grader_error is None
    found, claimed = parts(result), json.loads((reference / "artifacts" / "metrics.json").read_text())
    for part, model in (("test-lenet-accuracy", "lenet"), ("test-vgg-accuracy", "vgg"),
                        ("test-transfer", "mnist-transfer")):
        assert found[part].threshold == labkit.targets.target(LAB, model, "quick")
        # measured by the grader, on the images the quick profile tests on: as the notebook measured
        assert found[part].value == pytest.approx(claimed[model]["test_accuracy"], abs=1e-3), summary(result)
        # The quick target keeps the margin full_marks asks of every target. The runs differ by machine
        # (the transfer: 3.5 to 5.3 points over its target on five seeds on one CPU model, 2.9 on another).
        assert found[part].value >= found[part].threshold + full_marks.MARGIN, "the quick target must keep a margin"
    assert "4,000 of the 23,265 held-out EMNIST ByClass images" in found["test-vgg-accuracy"].message
    assert "the features were frozen" in found["test-transfer"].message
    assert found["test-lenet-model"].value == "35,814 parameters"
    assert found["test-comparison"].value == found["test-comparison"].threshold == "6 of 6 rows"
    assert "within 0.5 points, the parameters exactly" in found["test-comparison"].message
    reported = {test.grade_id: test.passed for test in result.notebook_tests}
    assert reported == {"test-lenet-model": True, "test-spinal-head": True, "test-random-search": True}
    assert set(result.fingerprints) == {"lenet", "vgg", "mnist-transfer", *(f"compare-{n}" for n in lab5.COMPARED)}
    print({student: r.seconds for student, r in graded.items()}, result.runs)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_grading_twice_gives_identical_results(graded):
    first, second = graded["reference"], graded["reference-copy"]
    assert first.parts == second.parts
    assert first.fingerprints == second.fingerprints


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    found = parts(result)
    assert "lenet.safetensors is missing" in found["test-lenet-accuracy"].message
    assert "vgg.safetensors is missing" in found["test-vgg-accuracy"].message
    assert "artifacts/comparison.json is missing" in found["test-comparison"].message
    for part in ("test-lenet-model", *NOTEBOOK_PARTS):
        assert "NotImplementedError" in found[part].message, summary(result)
    ran_without(result, lab5.SKIP)  # no training cell run


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("student, part, words", [
    ("bug-lenet-tanh", "test-lenet-model", "computes another function than the table's network"),
    ("bug-spinal-halves", "test-spinal-head", "the layers read the wrong inputs"),
    ("bug-search-one-model", "test-random-search", "each trial trains a new model"),
    ("bug-macro-scores", "test-weighted-scores", "These are macro averages"),
])
def test_each_seeded_bug_loses_exactly_its_part(graded, student, part, words):
    result = graded[student]
    assert lost(result) == {part}, summary(result)
    assert words in parts(result)[part].message, summary(result)
    assert result.score == sum(POINTS.values()) - POINTS[part]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_transfer_whose_features_moved_loses_the_transfer_part(graded):
    result = graded["unfrozen-transfer"]
    found = parts(result)
    assert lost(result) == {"test-transfer", *NO_NOTEBOOK}, summary(result)
    message = found["test-transfer"].message
    assert found["test-transfer"].value >= found["test-transfer"].threshold  # its accuracy is not the problem
    assert "differ from vgg.safetensors'" in message and "not frozen" in message


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_claimed_width_the_file_does_not_have_gains_nothing(graded):
    result = graded["claimed-width"]
    found = parts(result)
    assert lost(result) == {"test-vgg-accuracy", "test-transfer", *NO_NOTEBOOK}, summary(result)
    assert "vgg.safetensors holds VGG weights of width 0.25, but artifacts/metrics.json says width 0.5" in \
        found["test-vgg-accuracy"].message
    assert "cannot be checked" in found["test-transfer"].message


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_pickle_and_a_link_are_never_loaded(graded, marker):
    result = graded["forged-files"]
    found = parts(result)
    assert not marker.exists(), "a pickle was unpickled"
    assert lost(result) == {"test-lenet-accuracy", "test-vgg-accuracy", "test-transfer", *NO_NOTEBOOK}, \
        summary(result)
    assert "is a pickle" in found["test-lenet-model"].message
    assert "vgg.safetensors is missing" in found["test-vgg-accuracy"].message  # the link was not copied
    assert any("vgg.safetensors" in note for note in result.notes), result.notes


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("student, words", [
    ("typed-table", "The row of lenet says accuracy 80.00%"),
    ("reused-lenet", "compare-lenet.safetensors holds the very weights of lenet.safetensors"),
    ("one-file-many-rows", "The row of lenet names the file 'compare-vgg.safetensors', not its own"),
    ("unsaved-ensnet", "compare-ensnet.safetensors is missing"),
    ("wrong-width", ("compare-vgg.safetensors holds VGG weights of width 0.25, but its row in "
                     "artifacts/comparison.json says width 0.5")),
])
def test_a_comparison_not_measured_from_its_own_saved_networks_earns_nothing(graded, student, words):
    result = graded[student]
    assert lost(result) == {"test-comparison", *NO_NOTEBOOK}, summary(result)
    found = parts(result)["test-comparison"]
    assert found.points == 0 and words in found.message, summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_scores_planted_where_the_probe_writes_gain_nothing(graded):
    result = graded["forge-scores"]
    message = parts(result)["test-weighted-scores"].message
    assert "RuntimeError: forged scores from" in message and "labels.npz" in message, message  # it was in place
    assert result.score == 0, summary(result)


def models_record(row: dict) -> dict:
    """A comparison row as the record of a network: the grader rebuilds it with ``models.build(network, 62, width)``."""
    return {"architecture": row["network"], "num_classes": lab5.CLASSES, "width": row["width"], "options": {}}


def _predicted(path: Path, record: dict, images, labels) -> np.ndarray:
    """The classes the network saved at ``path`` predicts, measured here, in the test's own process, as a check
    on the grader; the network is rebuilt from its ``record``, as the grader's probe rebuilds it."""
    import torch
    from safetensors.torch import load_file

    import labkit

    network = labkit.models.build(record["architecture"], num_classes=record["num_classes"], width=record["width"],
                                  **record["options"])
    network.load_state_dict(load_file(str(path)), strict=True)
    inputs, _ = labkit.data.to_torch_tensors(images, labels, normalize=lab5.NORMALIZATION)
    with torch.no_grad():
        return network.eval()(inputs).argmax(dim=1).numpy()


def _accuracy(reference: Path, model: str, images, labels) -> float:
    """The reference's saved ``model``, rebuilt from its record in ``metrics.json``, measured here."""
    record = json.loads((reference / "artifacts" / "metrics.json").read_text())[model]
    return float(np.mean(_predicted(reference / "artifacts" / lab5.FILES[model], record, images, labels) == labels))


def measured_as(reference: Path, model: str, images, labels):
    """The test's own accuracy, give or take the one image on which two processes' rounding may disagree."""
    return pytest.approx(_accuracy(reference, model, images, labels), abs=1.5 / len(labels))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_private_evaluation_set_is_what_the_models_are_scored_on(tmp_path, reference, mirror_dir):
    """``--evaluation DIR``: accuracies are measured on DIR/<lab>.npz, its labels decide, a new file regrades.

    What is checked is where each accuracy was measured, not whether it clears its
    threshold: how far the reference clears it on a given sample varies with the machine.
    """
    import labkit
    from autograder.scoring import evaluation_sets
    from labkit.data import partition

    held_out = partition.load("emnist-byclass", "test")
    rows = labkit.data.stratified_indices(held_out.labels, 500, seed=11)  # not the default sample
    images, labels = held_out.images[rows], held_out.labels[rows]
    digits, digit_labels = labkit.data.load("mnist", "test")
    digits, digit_labels, wrong_labels = digits[-300:], digit_labels[-300:], (digit_labels[-300:] + 1) % 10
    private = tmp_path / "private"
    path = evaluation_sets.private_file(private, LAB)
    evaluation_sets.write_private_set(path, images, labels, lab5.CLASSES,  # the digits' labels all wrong
                                      mnist_images=digits, mnist_labels=wrong_labels)
    shutil.copytree(reference, tmp_path / "class" / "reference" / LAB, ignore=shutil.ignore_patterns(".kernels"))
    out = tmp_path / "graded"

    ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"), "--out",
                          str(out), "--profile", "quick", "--evaluation", str(private)],
                         capture_output=True, text=True, timeout=600, env={**os.environ,
                                                                           "LABKIT_DATA_DIR": str(mirror_dir)})
    assert ran.returncode == 0, ran.stderr[-3000:]
    first = read_result(out / "results" / LAB / "reference.json")
    found = parts(first)
    assert found["test-lenet-accuracy"].value == measured_as(reference, "lenet", images, labels), summary(first)
    assert found["test-vgg-accuracy"].value == measured_as(reference, "vgg", images, labels), summary(first)
    assert "the instructor's 500 private evaluation images (lab5-emnist-deep-models.npz)" in \
        found["test-vgg-accuracy"].message
    transfer = found["test-transfer"]
    assert transfer.value == measured_as(reference, "mnist-transfer", digits, wrong_labels), summary(first)
    assert transfer.verdict == "fail", summary(first)  # the file's labels decided: no model scores on those
    assert "the instructor's 300 private evaluation MNIST images" in transfer.message
    review = [row for row in csv.DictReader((out / "comet-review.csv").open()) if row["model"]]
    assert sorted(row["model"] for row in review) == ["lenet", "vgg"]  # the notebook's runs, as handed in
    assert all(row["measured_on"] == "the instructor's private evaluation set" and row["flag"] == ""
               for row in review), review  # other images than the notebook's: no difference is flagged

    evaluation_sets.write_private_set(path, images, labels, lab5.CLASSES, mnist_images=digits,
                                      mnist_labels=digit_labels)
    again = grade(LAB, tmp_path / "class", out, options=dataclasses.replace(options(mirror_dir),
                                                                               evaluation_dir=private))
    assert again[0].content_hash != first.content_hash  # graded again, not reused
    regraded = parts(again[0])["test-transfer"]
    assert regraded.value == measured_as(reference, "mnist-transfer", digits, digit_labels), summary(again[0])
    assert regraded.verdict == ("pass" if regraded.value >= regraded.threshold else "fail"), summary(again[0])
    assert parts(again[0])["test-lenet-accuracy"].value == found["test-lenet-accuracy"].value


# --- the judging functions, without a sandbox ------------------------------------------------------------


SHARED = ("WIDTHS", "COMPARED_WIDTHS", "COMPARED_FLOOR", "VGG_BATCH_NORM", "NORMALIZATION", "HELD_OUT_SAMPLE",
          "MNIST_SAMPLE", "SAMPLE_SEED")
"""The constants lab 5's notebook and grader agree on, each set once in labkit.settings."""


def test_the_notebook_and_the_grader_read_their_shared_constants_from_labkit_settings():
    import re

    from labkit import settings

    assert set(settings.SETTINGS[LAB]) == set(SHARED)
    notebook = "\n".join(cell.source for cell in nbformat.read(solution_notebook(LAB), as_version=4).cells)
    for name in SHARED:
        assigned = re.findall(rf"^{name} = .*$", notebook, re.MULTILINE)
        assert assigned and all(f'labkit.settings.value(LAB, "{name}")' in line for line in assigned), (
            f"the notebook sets {name} otherwise than from labkit.settings: {assigned}")
    grader = Path(lab5.__file__).read_text()
    assert "source.settings(" not in grader and "ast.parse" not in grader  # nothing is parsed out of a notebook
    choices = lab5.vgg_choices()
    assert choices.widths == (0.25, 0.5, 1.0) and dict(choices.options) == {"batch_norm": True}
    assert (lab5.EMNIST_IMAGES, lab5.MNIST_IMAGES, lab5.SAMPLE_SEED, lab5.NORMALIZATION) == (
        4000, 2000, 0, "emnist-byclass")
    assert lab5.compared_widths() == {"lenet": (1.0,), "alexnet": (0.25, 0.5), "vgg": (0.25, 0.5),
                                      "resnet": (0.25, 0.5), "spinalnet": (0.25, 0.5), "ensnet": (0.125,)}


def test_only_widths_the_notebook_offers_are_taken_from_metrics_json(tmp_path):
    choices = lab5.VGGChoices((0.25, 0.5, 1.0), {"batch_norm": True})
    path = tmp_path / "metrics.json"

    def width(record):
        path.write_text(json.dumps({"vgg": record}))
        return lab5.vgg_width(path, "vgg", choices)

    assert width({"width": 0.5, "options": {"batch_norm": True}}) == 0.5
    for record, words in (({"width": 0.3, "options": {"batch_norm": True}}, "widths are 0.25, 0.5, 1"),
                          ({"width": "0.5", "options": {"batch_norm": True}}, "width 0.5;"),
                          ({"width": True, "options": {"batch_norm": True}}, "width True"),
                          ({"width": 0.5, "options": {}}, "built with options {}"),
                          ({"options": {"batch_norm": True}}, "no readable 'vgg' record")):
        with pytest.raises(lab5.RecordError, match=words):
            width(record)
    path.write_text("[1, 2")
    with pytest.raises(lab5.RecordError, match="no readable"):
        lab5.vgg_width(path, "vgg", choices)
    with pytest.raises(lab5.RecordError, match="is missing"):
        lab5.vgg_width(tmp_path / "absent.json", "vgg", choices)


def test_a_file_of_another_offered_width_is_named_as_such(tmp_path):
    from autograder.scoring import torch_models
    from labkit import models

    by_width = {w: torch_models.reference("vgg", 62, w, {"batch_norm": True}) for w in (0.25, 0.5)}
    path = models.save_state(models.VGG(num_classes=62, width=0.25, batch_norm=True), tmp_path / "vgg.safetensors")
    assert "holds VGG weights of width 0.25, but artifacts/metrics.json says width 0.5" in torch_models.width_mismatch(
        path, by_width[0.5], by_width, lab5.METRICS_RECORD)
    other = models.save_state(models.VGG(num_classes=62, width=0.125, batch_norm=True), tmp_path / "other.safetensors")
    assert torch_models.width_mismatch(  # the full list is shown
        other, by_width[0.5], by_width, lab5.METRICS_RECORD) is None
    compared = {w: torch_models.reference("alexnet", 62, w, {}) for w in (0.25, 0.5)}
    alexnet = models.save_state(models.AlexNet(num_classes=62, width=0.5), tmp_path / "compare-alexnet.safetensors")
    assert "holds AlexNet weights of width 0.5, but its row in artifacts/comparison.json says width 0.25" in \
        torch_models.width_mismatch(alexnet, compared[0.25], compared, lab5.COMPARISON_SPEC.width_record)


def test_the_lenet_class_is_judged_by_its_outputs_with_its_own_weights(tmp_path):
    from torch import nn

    from autograder.pipeline.results import judged
    from autograder.probes.lab5_lenet import probe
    from labkit import models

    images = np.random.default_rng(0).normal(size=(torch_code.LENET_IMAGES, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "lenet-inputs.npy", images)
    file_passed = judged("test-lenet-model", 3, True, "the file fits", value="35,814 parameters")
    file_failed = judged("test-lenet-model", 3, False, "lenet.safetensors is missing")

    def verdict(lenet_class, file_part, name):
        probe(lenet_class, tmp_path, tmp_path / name / "out")
        result, came_back = torch_code.lenet_class_part(file_part, images, OutputFolder(tmp_path / name, "out"))
        return result.verdict, result.points, result.message

    assert verdict(models.LeNet, file_passed, "good") == ("pass", 3, "the file fits")
    assert verdict(models.LeNet, file_failed, "no-file")[:2] == ("fail", 0)

    class TanhLeNet(models.LeNet):
        def __init__(self, num_classes=62):
            super().__init__(num_classes)
            self.features[1] = nn.Tanh()

    found = verdict(TanhLeNet, file_passed, "tanh")
    assert found[0] == "fail" and "computes another function" in found[2]

    class Wider(models.LeNet):
        def __init__(self, num_classes=62):
            super().__init__(num_classes, width=2.0)

    assert "layers are not the table's" in verdict(Wider, file_passed, "wider")[2]
    assert torch_code.lenet_class_part(file_passed, images, OutputFolder(tmp_path / "nothing", "out"))[1] is False


SECRET = GradingSecret(b"5" * 32)
HEAD_INPUTS = torch_code.head_inputs(SECRET.rng("spinal-head"))


def _spinal_out(tmp_path, spinal_head) -> OutputFolder:
    """Run the probe (in this process: the classes here are trusted test code) and return its folder."""
    from autograder.probes.lab5_spinal_head import probe

    probe_dir = tmp_path / "in"
    probe_dir.mkdir(parents=True, exist_ok=True)
    (probe_dir / "heads.json").write_text(json.dumps(torch_code.HEADS))
    for k, array in enumerate(HEAD_INPUTS):
        np.save(probe_dir / f"inputs-{k}.npy", array)
    probe(spinal_head, probe_dir, tmp_path / "out")
    return OutputFolder(tmp_path, "out")


def test_spinal_heads_are_judged_by_their_outputs_with_their_own_weights(tmp_path):
    import torch
    from torch.nn import functional as F

    from labkit import models

    def verdict(head_class, folder):
        result, came_back = torch_code.spinal_head_part("p", 3, HEAD_INPUTS, _spinal_out(tmp_path / folder, head_class))
        return result.verdict, came_back, result.message

    assert verdict(models.SpinalHead, "good")[:2] == ("pass", True)

    class WrongHalves(models.SpinalHead):
        def forward(self, x):
            halves, outputs = (x[:, :self.half], x[:, self.half:]), []
            for i, layer in enumerate(self.spinal):
                inputs = halves[0] if i == 0 else torch.cat([halves[(i + 1) % 2], outputs[-1]], dim=1)
                outputs.append(F.dropout(F.relu(layer(inputs)), self.dropout, training=self.training))
            return self.classifier(torch.cat(outputs, dim=1))

    class AlwaysDropout(models.SpinalHead):
        def forward(self, x):
            self.training = True
            return super().forward(x)

    class NoDropout(models.SpinalHead):
        def forward(self, x):
            self.training = False
            return super().forward(x)

    assert "the layers read the wrong inputs" in verdict(WrongHalves, "halves")[2]
    assert "two different outputs for the same features in evaluation mode" in verdict(AlwaysDropout, "always")[2]
    assert "dropout must be active while training" in verdict(NoDropout, "never")[2]
    assert torch_code.spinal_head_part("p", 3, HEAD_INPUTS, OutputFolder(tmp_path, "nothing"))[1] is False


def reference_random_search(make_model, grid, trials, make_loader, validation, epochs, seed=0, augment=None,
                            *, draw=None, new_model_each_trial=True, catch=True):
    """The notebook's solution, with the switches that make its usual mistakes."""
    import time

    import torch

    from labkit import models

    tried, model = [], None
    for settings in (draw or models.sample_settings)(grid, trials, seed):
        started = time.perf_counter()
        model = make_model() if new_model_each_trial or model is None else model
        optimizer = torch.optim.SGD(model.parameters(), lr=settings["learning_rate"], momentum=settings["momentum"],
                                    weight_decay=settings["weight_decay"])
        loader = make_loader(settings["batch_size"])
        try:
            for _ in range(epochs):
                models.train_epoch(model, loader, optimizer, device="cpu", augment=augment)
            loss = models.mean_loss(model, validation, device="cpu")
        except FloatingPointError:
            if not catch:
                raise
            loss = float("inf")
        labels = torch.cat([labels for _, labels in validation]).numpy()
        accuracy = float(np.mean(models.predict(model, validation, device="cpu").argmax(axis=1) == labels))
        tried.append(models.Trial(settings, loss, accuracy, time.perf_counter() - started))
    return sorted(tried, key=lambda trial: trial.validation_loss)


def test_a_random_search_is_judged_by_the_trials_it_reports_on_the_grader_s_problem(tmp_path):
    """Each way a search can be wrong loses the part and is named: the grader trains every setting itself."""
    import itertools

    from autograder.probes.lab5_random_search import probe
    from autograder.scoring import random_search

    probe_dir = tmp_path / "in"
    probe_dir.mkdir()
    reference = random_search.write_inputs(probe_dir, SECRET.rng("random-search"))
    assert random_search.DIVERGING_RATE in reference.grid["learning_rate"]
    assert any(math.isinf(loss) for loss, _ in reference.scores.values())

    def verdict(search, name):
        probe(search, "cpu", probe_dir, tmp_path / name)
        result, came_back = random_search.random_search_part("p", 2, reference, OutputFolder(tmp_path, name))
        assert came_back
        return result

    good = verdict(reference_random_search, "good")
    assert good.verdict == "pass" and good.value == "3 of 3 searches", good.message

    def nothing_measured_when_diverged(*arguments, **keywords):  # a diverged model's accuracy means nothing
        return [dataclasses.replace(trial, validation_accuracy=0.0) if math.isinf(trial.validation_loss) else trial
                for trial in reference_random_search(*arguments, **keywords)]

    assert verdict(nothing_measured_when_diverged, "diverged").verdict == "pass"

    def first_of_the_grid(grid, trials, seed):  # a grid search's first settings, whatever the seed
        return [dict(zip(grid, values)) for values in itertools.islice(itertools.product(*grid.values()), trials)]

    mistakes = {
        "one model": (lambda *a, **k: reference_random_search(*a, **k, new_model_each_trial=False),
                      "each trial trains a new model"),
        "epochs + 1": (lambda m, g, t, l, v, e, seed=0, augment=None: reference_random_search(m, g, t, l, v, e + 1,
                                                                                              seed=seed),
                       "what 3 epochs of training give"),
        "not sorted": (lambda *a, **k: reference_random_search(*a, **k)[::-1], "not sorted by validation loss"),
        "fixed seed": (lambda m, g, t, l, v, e, seed=0, augment=None: reference_random_search(m, g, t, l, v, e),
                       "the same settings for the seeds"),
        "grid order": (lambda *a, **k: reference_random_search(*a, **k, draw=first_of_the_grid),
                       "the same settings for the seeds"),
        "diverged dropped": (lambda *a, **k: [t for t in reference_random_search(*a, **k)
                                              if math.isfinite(t.validation_loss)], "trials for trials=4"),
    }
    for name, (search, words) in mistakes.items():
        result = verdict(search, name)
        assert result.verdict == "fail" and words in result.message, (name, result.message)
    with pytest.raises(FloatingPointError):  # in the notebook: the probe cell's error, which the part reports
        probe(lambda *a, **k: reference_random_search(*a, **k, catch=False), "cpu", probe_dir, tmp_path / "raise")
    nothing = random_search.random_search_part("p", 2, reference, OutputFolder(tmp_path, "raise"))
    assert nothing[0].verdict == "fail" and nothing[1] is False


def test_a_random_search_s_reported_numbers_are_read_as_untrusted_data(tmp_path):
    from autograder.scoring import random_search

    reference = random_search.write_inputs(tmp_path, SECRET.rng("random-search"))
    out = tmp_path / "out" / "p"
    out.mkdir(parents=True)
    for forged in ('[{"trials": "x"}]', "[1, 2, 3]", '{"a": 1}', '[' + '[' * 200 + ']' * 200 + ']', "Infinity"):
        (out / "trials.json").write_text(forged)
        result, came_back = random_search.random_search_part("p", 2, reference, OutputFolder(tmp_path / "out", "p"))
        assert result.verdict == "fail" and result.points == 0 and came_back, forged
    settings = dict(zip(reference.grid, next(iter(reference.scores))))
    run = {"seed": 1, "models_made": 4, "trials": [{"settings": {**settings, "learning_rate": True},
                                                     "validation_loss": 0.1, "validation_accuracy": 1.0}] * 4}
    (out / "trials.json").write_text(json.dumps([run] * 3))
    result, _ = random_search.random_search_part("p", 2, reference, OutputFolder(tmp_path / "out", "p"))
    assert result.verdict == "fail" and "not a combination of the grid's values" in result.message


def test_weighted_scores_are_compared_with_scikit_learn(tmp_path):
    from sklearn import metrics

    pairs = weighted_scores.score_labels(SECRET.rng("weighted-scores"))
    expected = [weighted_scores.reference_scores(*pair) for pair in pairs]
    macro = [weighted_scores.reference_scores(*pair, "macro") for pair in pairs]
    out = tmp_path / "out"
    out.mkdir()

    def verdict(average):
        found = []
        for true, predicted in pairs:
            p, r, f, _ = metrics.precision_recall_fscore_support(true, predicted, average=average, zero_division=0)
            found.append({"accuracy": metrics.accuracy_score(true, predicted), "precision": p, "recall": r, "f1": f})
        (out / "scores.json").write_text(json.dumps(found))
        result, _ = weighted_scores.weighted_scores_part("p", 2, expected, macro, OutputFolder(tmp_path, "out"))
        return result.verdict, result.message

    assert verdict("weighted")[0] == "pass"
    assert "These are macro averages" in verdict("macro")[1]
    assert verdict("micro")[0] == "fail"
    (out / "scores.json").write_text(json.dumps([{"accuracy": float("nan")}]))
    assert "four finite numbers" in weighted_scores.weighted_scores_part("p", 2, expected, macro,
                                                              OutputFolder(tmp_path, "out"))[0].message
    assert verdict("weighted")[0] == "pass"
    linked = tmp_path / "linked"  # a folder link, as a notebook could leave in place of the probe's folder
    linked.symlink_to(out)
    assert weighted_scores.weighted_scores_part("p", 2, expected, macro, OutputFolder(tmp_path, "linked"))[:2] == (
        judged("p", 2, False, "weighted_scores gave no scores back."), False)
    (tmp_path / "elsewhere.json").write_bytes((out / "scores.json").read_bytes())
    (out / "scores.json").unlink()
    (out / "scores.json").symlink_to(tmp_path / "elsewhere.json")
    assert weighted_scores.weighted_scores_part("p", 2, expected, macro,
                                                OutputFolder(tmp_path, "out"))[0].verdict == "fail"


# --- the comparison's table, judged without a sandbox ----------------------------------------------------------

COMPARED_WIDTHS = lab5.compared_widths()
SPEC = lab5.COMPARISON_SPEC


def _row(network: str, **changes) -> dict:
    return {"network": network, "width": COMPARED_WIDTHS[network][0], "file": lab5.COMPARED[network],
            "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5, "parameters": 10, "train_seconds": 2.0,
            **changes}


def _table(folder: Path, rows) -> Path:
    (folder / lab5.COMPARISON_TABLE).write_text(json.dumps({"budget": {}, "rows": rows}))
    return folder / lab5.COMPARISON_TABLE


def test_a_table_is_read_as_one_row_per_network_each_naming_its_own_file(tmp_path):
    rows = [_row(network) for network in reversed(lab5.COMPARED)]
    read = comparison_tables.read_table(SPEC, _table(tmp_path, rows), COMPARED_WIDTHS)
    assert [row.network for row in read] == list(lab5.COMPARED)

    def changed(network, **change):
        return [_row(n, **change) if n == network else _row(n) for n in lab5.COMPARED]

    for table, words in (
            (rows[1:], "has no row for ensnet"),
            ([*rows, _row("vgg")], "two rows for vgg"),
            ([*rows, {**_row("lenet"), "network": "densenet"}], "'densenet', not one of the networks compared"),
            ([_row(n, file="compare-vgg.safetensors") for n in lab5.COMPARED],
             "The row of lenet names the file 'compare-vgg.safetensors', not its own"),
            (changed("alexnet", file="lenet.safetensors"), "names the file 'lenet.safetensors'"),
            (changed("vgg", width=0.3), "says width 0.3; the comparison trains vgg at width 0.25 or 0.5"),
            (changed("ensnet", width=1.0), "trains ensnet at width 0.125"),
            (changed("resnet", train_seconds=0), "a training time is positive"),
            (changed("resnet", train_seconds=1e6), "at most 3600 s"),
            (changed("spinalnet", accuracy=87.2), "not a number between 0 and 1"),
            (changed("lenet", parameters=True), "not a count of parameters"),
            (changed("lenet", f1="0.5"), "is not a number"),
            ("rows", "holds no readable list of rows")):
        with pytest.raises(comparison_tables.TableError, match=words):
            comparison_tables.read_table(SPEC, _table(tmp_path, table), COMPARED_WIDTHS)
    (tmp_path / lab5.COMPARISON_TABLE).unlink()
    with pytest.raises(comparison_tables.TableError, match="comparison.json is missing"):
        comparison_tables.read_table(SPEC, tmp_path / lab5.COMPARISON_TABLE, COMPARED_WIDTHS)
    (tmp_path / "elsewhere").mkdir()
    elsewhere = _table(tmp_path / "elsewhere", rows)
    (tmp_path / lab5.COMPARISON_TABLE).symlink_to(elsewhere)  # a table the student points at, not one handed in
    with pytest.raises(comparison_tables.TableError, match="comparison.json was not read: .* is a link"):
        comparison_tables.read_table(SPEC, tmp_path / lab5.COMPARISON_TABLE, COMPARED_WIDTHS)


def test_a_compared_file_holding_another_file_s_weights_is_found(tmp_path):
    import torch

    from labkit import models

    main = models.save_state(models.LeNet(), tmp_path / "lenet.safetensors")
    copied = tmp_path / "compare-lenet.safetensors"
    shutil.copyfile(main, copied)
    fresh = models.save_state(models.LeNet(), tmp_path / "fresh.safetensors")  # another initialisation
    torch.save({"weights": 1}, tmp_path / "pickle.safetensors")
    others = [tmp_path / "pickle.safetensors", tmp_path / "absent.safetensors", main, copied, fresh]
    assert comparison_tables.same_weights_as(copied, others) == main
    assert comparison_tables.same_weights_as(fresh, others) is None


def _scored(rng, labels: np.ndarray, right: float) -> np.ndarray:
    """Logits whose argmax is the label for about ``right`` of the rows and another class otherwise."""
    predicted = np.where(rng.random(len(labels)) < right, labels, (labels + 1) % lab5.CLASSES)
    return np.eye(lab5.CLASSES, dtype=np.float32)[predicted]


def test_every_row_must_be_the_grader_s_measurement_of_its_file(tmp_path):
    from autograder.scoring import torch_models
    from autograder.scoring.torch_models import Predictions

    rng = np.random.default_rng(0)
    labels = rng.integers(0, lab5.CLASSES, 2000)
    evaluation = torch_models.write_evaluation_set(tmp_path, "comparison", np.zeros((len(labels), 1, 28, 28)), labels,
                                                   "2,000 test images")
    references = {n: {w: torch_models.reference(n, lab5.CLASSES, w, {}) for w in COMPARED_WIDTHS[n]}
                  for n in lab5.COMPARED}
    comparison = comparison_tables.Comparison(SPEC, references, evaluation, floor=0.3)
    found = {SPEC.run_name(n): Predictions(_scored(rng, labels, 0.4 + 0.05 * k)) for k, n in enumerate(lab5.COMPARED)}
    measured = {n: weighted_scores.reference_scores(labels, found[SPEC.run_name(n)].predictions.argmax(axis=1))
                for n in lab5.COMPARED}

    def honest(network, **change):
        width = COMPARED_WIDTHS[network][0]
        return comparison_tables.ComparedRow(network, width, lab5.COMPARED[network], {**measured[network], **change},
                                             references[network][width].parameter_count, 3.0)

    def verdict(rows, predictions=found, file_problems=None, floor=0.3):
        table = comparison_tables.ComparedTable(tuple(rows), None, file_problems or {})
        result = comparison_tables.comparison_part(dataclasses.replace(comparison, floor=floor), 5, table, predictions)
        return result.verdict, result.points, result.value, result.message

    rows = [honest(n) for n in lab5.COMPARED]
    passed = verdict(rows)
    assert passed[:3] == ("pass", 5, "6 of 6 rows") and "on 2,000 test images" in passed[3]
    nudged = [honest(n, f1=measured[n]["f1"] + 0.004) for n in lab5.COMPARED]  # within the tolerance
    assert verdict(nudged)[0] == "pass"

    typed = [honest(n, accuracy=0.9) if n == "vgg" else honest(n) for n in lab5.COMPARED]
    failed = verdict(typed)
    assert failed[:3] == ("fail", 0, "5 of 6 rows") and "The row of vgg says accuracy 90.00%" in failed[3]
    miscounted = [dataclasses.replace(row, parameters=row.parameters + 1) for row in rows]
    assert "parameters" in verdict(miscounted)[3] and verdict(miscounted)[2] == "0 of 6 rows"
    assert "below the 50% every network" in verdict(rows, floor=0.5)[3]
    assert verdict(rows, file_problems={"ensnet": "compare-ensnet.safetensors is missing"})[2:] == (
        "5 of 6 rows", "compare-ensnet.safetensors is missing")
    stopped = {**found, "compare-vgg": Predictions(problem="took too long", verdict="timeout")}
    assert verdict(rows, stopped)[:2] == ("timeout", 0)
    no_table = comparison_tables.comparison_part(
        comparison, 5, comparison_tables.ComparedTable(problem="artifacts/comparison.json is missing"), found)
    assert (no_table.verdict, no_table.message) == ("fail", "artifacts/comparison.json is missing")
