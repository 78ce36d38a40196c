"""Grading lab 4 end to end: real notebooks, real sandboxes, the real saved models, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would) and a copy of it, the untouched student notebook,
one seeded bug per probed function (the seed's rot90 in ``upright``, an
early-stopping callback that never puts the best weights back, inverted class weights),
each with the reference's artifacts, and a forgery: a notebook that plants the
right answers where the probes write, leaves ``upright`` and ``balanced_class_weights``
unwritten, and hands in half of the reference's ``dense.keras`` and no ``cnn.keras``;
and the same planting with an ``early_stopping`` that writes the right facts and ends
its kernel when the probe calls it. Graded in one batch with two workers, under the quick profile's targets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.graders import lab4_emnist_baselines as lab4
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import SubmissionResult
from autograder.sandbox.output import OutputFolder
from tests.grading_class import grade_class, parts, ran_without, summary
from tests.grading_class import with_source as _with_source
from tests.grading_class import write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab4.LAB
POINTS = {"test-upright": 1, "test-dense-model": 2, "test-early-stopping": 4, "test-dense-accuracy": 2,
          "test-cnn-model": 3, "test-cnn-accuracy": 3, "test-class-weights": 3}
PROBED = ("test-upright", "test-early-stopping", "test-class-weights")

BUGS = {  # student id -> (cell, the solution's line, the mistake), and the part it must lose
    "bug-rot90": (("upright", "    return np.transpose(stored, (0, 2, 1))\n",
                   "    return np.rot90(stored, k=1, axes=(1, 2))\n"), "test-upright"),
    "bug-no-restore": (("early-stopping", "            self.model.set_weights(self.best_weights)\n",
                        "            pass\n"), "test-early-stopping"),
    "bug-inverted-weights": (("class-weights", "len(labels) / (N_CLASSES * images_per_class)",
                              "N_CLASSES * images_per_class / len(labels)"), "test-class-weights"),
}

RUNS = [{"stopped_after": 5, "weights_of": 3}, {"stopped_after": 5, "weights_of": 3},
        {"stopped_after": 2, "weights_of": 0}, {"stopped_after": None, "weights_of": 6}]
"""What the reference callback does through the grader's epoch logs (PATIENCE = 2), hard-coded."""

FORGE_INPUTS = f"""\
# Plant the right answers where the grader's probes write, before they run, computed from the inputs
# they read; upright and balanced_class_weights stay unwritten.
import glob, json, pathlib
from sklearn.utils.class_weight import compute_class_weight

planted = pathlib.Path(".autograder-probe")
for stored in glob.glob("/tmp/**/stored.npy", recursive=True):
    folder = pathlib.Path(stored).parent
    (planted / "test-upright").mkdir(parents=True, exist_ok=True)
    np.save(planted / "test-upright" / "upright.npy", np.load(stored).transpose(0, 2, 1))
    weights = compute_class_weight("balanced", classes=np.arange(47), y=np.load(folder / "labels.npy"))
    (planted / "test-class-weights").mkdir(parents=True, exist_ok=True)
    (planted / "test-class-weights" / "weights.json").write_text(json.dumps([[c, float(w)] for c, w in enumerate(weights)]))
    (planted / "test-early-stopping").mkdir(parents=True, exist_ok=True)
    (planted / "test-early-stopping" / "facts.json").write_text(json.dumps({{"new_each_call": True, "runs": {RUNS!r}}}))
print("planted:", sorted(str(p) for p in planted.rglob("*.*")))
"""

FORGE_EARLY_STOPPING = f"""\
PATIENCE = labkit.settings.value(LAB, "PATIENCE")


def early_stopping():
    # Called by the grader's probe: write the right facts where it writes, then end the kernel before it can.
    import inspect, json, os, pathlib
    if any(frame.filename.endswith("lab4_early_stopping.py") for frame in inspect.stack()):
        out = pathlib.Path(".autograder-probe/test-early-stopping")
        out.mkdir(parents=True, exist_ok=True)
        (out / "facts.json").write_text(json.dumps({{"new_each_call": True, "runs": {RUNS!r}}}))
        os._exit(0)
    raise NotImplementedError()
"""


def build_class(reference: Path, class_dir: Path) -> None:
    for student in ("reference", "reference-copy"):
        shutil.copytree(reference, class_dir / student / LAB, ignore=shutil.ignore_patterns(".kernels"))
    _write(nbformat.read(released_notebook(LAB), as_version=4), class_dir / "untouched" / LAB)
    for student, (change, _) in BUGS.items():
        folder = class_dir / student / LAB
        _write(_with_source(solution_notebook(LAB), *change), folder)
        shutil.copytree(reference / "artifacts", folder / "artifacts")
    forged = class_dir / "forge" / LAB
    _write(forgery({"class-weights": FORGE_INPUTS}), forged)
    (forged / "artifacts").mkdir()
    model = (reference / "artifacts" / "dense.keras").read_bytes()
    (forged / "artifacts" / "dense.keras").write_bytes(model[: len(model) // 2])  # not what its name says
    shutil.copyfile(reference / "artifacts" / "metrics.json", forged / "artifacts" / "metrics.json")
    _write(forgery({"class-weights": FORGE_INPUTS}, {"early-stopping": FORGE_EARLY_STOPPING}),
           class_dir / "forge-exit" / LAB)


def forgery(prepended: dict[str, str], replaced: dict[str, str] | None = None):
    """The released notebook with code put before the source of some cells, and some cells replaced."""
    notebook = nbformat.read(released_notebook(LAB), as_version=4)
    for cell in notebook.cells:
        if cell.get("id") in prepended:  # after every input's cell, before the probes
            cell.source = prepended[cell.get("id")] + "\n" + cell.source
        cell.source = (replaced or {}).get(cell.get("id"), cell.source)
    return notebook


@pytest.fixture(scope="module")
def reference(solution_run) -> Path:
    """The solution notebook run once, as a student would, leaving its artifacts beside it."""
    return solution_run(LAB).folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference, mirror_dir) -> dict[str, SubmissionResult]:
    return grade_class(LAB, tmp_path_factory.mktemp("lab4-class"), lambda folder: build_class(reference, folder),
                       mirror_dir)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_reference_solution_gets_full_marks_from_the_grader_s_own_measurements(graded, reference):
    import labkit

    result = graded["reference"]
    assert [part.part for part in result.parts] == list(POINTS)
    assert {p: part.points for p, part in parts(result).items()} == POINTS, summary(result)
    assert result.status == "graded" and result.grader_error is None
    claimed = json.loads((reference / "artifacts" / "metrics.json").read_text())
    assert claimed["data"] == "emnist-bymerge/offline-partition"  # what the grader evaluates on, too
    for model in ("dense", "cnn"):
        accuracy = parts(result)[f"test-{model}-accuracy"]
        assert accuracy.threshold == labkit.targets.target(LAB, model, "quick")
        assert accuracy.value == pytest.approx(claimed[model]["test_accuracy"], abs=1e-4)  # the grader's own
        assert "the 23,265 held-out EMNIST ByMerge images" in accuracy.message
    assert parts(result)["test-early-stopping"].value == "4 of 4 runs"
    assert all(test.passed for test in result.notebook_tests), result.notebook_tests
    assert [test.grade_id for test in result.notebook_tests] == [p for p in POINTS if p not in lab4.SKIP]
    assert "early-stopping" in ran_without(result, lab4.SKIP)  # the training cells were left out


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_grading_the_same_submission_twice_gives_the_same_results(graded):
    assert graded["reference-copy"].parts == graded["reference"].parts


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert "dense.keras is missing" in parts(result)["test-dense-accuracy"].message
    for part in PROBED:
        assert "NotImplementedError" in parts(result)[part].message, summary(result)
    assert not any(test.passed for test in result.notebook_tests)
    ran_without(result, lab4.SKIP)  # no training cell run


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("student", list(BUGS))
def test_each_seeded_bug_loses_exactly_its_part_s_points(graded, student):
    result = graded[student]
    lost = BUGS[student][1]
    assert parts(result)[lost].verdict == "fail", summary(result)
    assert result.score == sum(POINTS.values()) - POINTS[lost], summary(result)
    expected_words = {"test-upright": "rotated 90° anticlockwise", "test-early-stopping": "put them back in on_train_end",
                      "test-class-weights": "inverted"}
    assert expected_words[lost] in parts(result)[lost].message


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_answers_planted_where_the_probes_write_and_a_truncated_model_gain_nothing(graded):
    result = graded["forge"]
    found = parts(result)
    assert result.score == 0, summary(result)
    assert result.runs["notebook"]["outcome"] == "completed"
    for part in PROBED:  # each probe cleared its folder, then the call raised: the planted file is gone
        assert found[part].verdict == "fail" and "NotImplementedError" in found[part].message, summary(result)
    assert "not a Keras model file" in found["test-dense-model"].message
    assert "cnn.keras is missing" in found["test-cnn-accuracy"].message
    planting = next(test for test in result.notebook_tests if test.grade_id == "test-class-weights")
    assert not planting.passed  # the planting cell ran; balanced_class_weights was still unwritten


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_right_facts_written_by_the_probed_function_before_it_ends_its_kernel_gain_nothing(graded):
    result = graded["forge-exit"]
    found = parts(result)
    assert result.runs["notebook"]["outcome"] == "kernel died"
    assert result.score == 0, summary(result)
    # Planted files were left in every probe's folder when the run ended; none is taken for an answer.
    for part in PROBED:
        assert found[part].verdict == "crashed" and "kernel died" in found[part].message, summary(result)


# --- the judging functions, without a sandbox ---------------------------------------------------


SECRET = GradingSecret(b"4" * 32)


def _probes(patience: int = 2, secret: GradingSecret = SECRET) -> lab4.Probes:
    sequences = lab4.epoch_logs(patience, secret.rng("early-stopping"))
    labels = lab4.unbalanced_labels(lab4.CLASSES, secret.rng("class-weights"))
    return lab4.Probes(Path("."), lab4.stored_images(lab4.UPRIGHT_IMAGES, secret.rng("upright")), patience, sequences,
                       lab4.reference_early_stopping(patience, sequences), labels,
                       lab4.reference_class_weights(labels, lab4.CLASSES))


def _save_npy(out: Path, name: str, array) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    np.save(out / name, array)
    return OutputFolder(out.parent, out.name)


def _write_text(out: Path, name: str, text: str) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (out / name).write_text(text)
    return OutputFolder(out.parent, out.name)


def test_the_notebook_and_the_grader_take_patience_from_labkit_settings_in_the_sandbox_s_profile():
    """One home: the notebook reads PATIENCE from labkit.settings, and the grader reads the same value for the
    profile in which the sandboxed run calls early_stopping()."""
    import labkit
    from autograder.pipeline import notebook_run

    early_stopping = next(c for c in nbformat.read(solution_notebook(LAB), as_version=4).cells
                          if c.get("id") == "early-stopping")
    assert early_stopping.source.startswith('PATIENCE = labkit.settings.value(LAB, "PATIENCE")')
    assert lab4.probe_patience() == labkit.settings.value(LAB, "PATIENCE", notebook_run.GRADING_ENVIRONMENT[
        "LABKIT_PROFILE"]) == labkit.settings.value(LAB, "PATIENCE", "quick")
    assert labkit.settings.value(LAB, "PATIENCE", "full") > lab4.probe_patience()  # the profiles differ
    assert lab4.probe_patience() == 2  # what RUNS, above, was worked out for


def test_upright_is_judged_against_the_transpose_and_familiar_mistakes_are_named(tmp_path):
    stored = lab4.stored_images(lab4.UPRIGHT_IMAGES, SECRET.rng("upright"))
    out = tmp_path / "out"

    def verdict(array):
        part, came_back = lab4.upright_part("p", 2, stored, _save_npy(out, "upright.npy", array))
        return part.verdict, part.points, came_back, part.message

    assert verdict(stored.transpose(0, 2, 1))[:3] == ("pass", 2, True)
    assert verdict(stored.transpose(0, 2, 1).astype("float32"))[0] == "pass"  # the same pixel values
    assert "rotated 90° anticlockwise" in verdict(np.rot90(stored, 1, axes=(1, 2)))[3]
    assert "rotated 90° clockwise" in verdict(np.rot90(stored, -1, axes=(1, 2)))[3]
    assert "unchanged" in verdict(stored)[3]
    assert "keep the shape" in verdict(stored.transpose(0, 2, 1)[:, np.newaxis])[3]
    half = stored.transpose(0, 2, 1).copy()
    half[::2] = stored[::2]
    assert verdict(half)[3].startswith("upright turns 8 of 16")
    shutil.rmtree(out)
    out.mkdir()
    assert lab4.upright_part("p", 2, stored, OutputFolder(tmp_path, "out"))[0].verdict == "fail"  # nothing came back
    np.save(tmp_path / "elsewhere.npy", stored.transpose(0, 2, 1))
    (out / "upright.npy").symlink_to(tmp_path / "elsewhere.npy")
    assert lab4.upright_part("p", 2, stored, OutputFolder(tmp_path, "out"))[0].verdict == "fail"


def _stop_by_hand(val_losses: list[float], patience: int) -> dict:
    """Early stopping on val_loss with restore_best_weights, written out: the best epoch, and patience after it."""
    best, waited = 0, 0
    for epoch in range(1, len(val_losses)):
        if val_losses[epoch] < val_losses[best]:
            best, waited = epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return {"stopped_after": epoch, "weights_of": best}
    return {"stopped_after": None, "weights_of": len(val_losses) - 1}


@pytest.mark.parametrize("key", [b"4", b"5", b"6"])
def test_the_reference_early_stopping_stops_patience_epochs_after_the_best_and_keeps_its_weights(key):
    for patience in (2, 3):
        found = _probes(patience, GradingSecret(key * 32))
        by_hand = [_stop_by_hand([epoch["val_loss"] for epoch in logs], patience) for logs in found.sequences]
        assert found.expected_stops == by_hand
        # Every lesson is there, in the order the secret drew: one never stops, one stops after the first epoch.
        assert sum(stop["stopped_after"] is None for stop in by_hand) == 1
        assert {"stopped_after": patience, "weights_of": 0} in by_hand
    assert _probes(2, GradingSecret(key * 32)).sequences != _probes(2, GradingSecret(b"x" * 32)).sequences


@pytest.mark.parametrize("settings, words", [
    ({"patience": 3}, "once PATIENCE (2) of them have passed"),
    ({"patience": 1}, "once PATIENCE (2) of them have passed"),
    ({"patience": 2, "restore_best_weights": False}, "put them back in on_train_end"),
    ({"patience": 2, "monitor": "loss"}, "since the lowest val_loss"),
    ({"patience": 2, "min_delta": 0.001}, "stopped training after epoch 3 instead of never"),
])
def test_each_early_stopping_mistake_fails_with_what_it_did(tmp_path, settings, words):
    import keras

    from autograder.probes.lab4_early_stopping import facts_while_driven

    found = _probes(patience=2)
    settings = {"monitor": "val_loss", "restore_best_weights": True} | settings
    runs = facts_while_driven(lambda: keras.callbacks.EarlyStopping(**settings), found.sequences)
    out = _write_text(tmp_path / "out", "facts.json", json.dumps({"new_each_call": True, "runs": runs}))
    part, came_back = lab4.early_stopping_part("p", 2, found, out)
    assert (part.verdict, part.points, came_back) == ("fail", 0, True)
    assert words in part.message, part.message


def test_early_stopping_facts_are_validated_before_they_are_compared(tmp_path):
    found = _probes(patience=2)
    good = {"new_each_call": True, "runs": found.expected_stops}
    out = tmp_path / "out"

    def verdict(text):
        return lab4.early_stopping_part("p", 2, found, _write_text(out, "facts.json", text))[0]

    assert verdict(json.dumps(good)).verdict == "pass"
    assert "same callback twice" in verdict(json.dumps(good | {"new_each_call": False})).message
    for bad in ({"runs": good["runs"]}, good | {"runs": good["runs"][:3]}, good | {"new_each_call": 1},
                good | {"runs": [{"stopped_after": "5", "weights_of": 3}] * 4}, [1, 2], "not json"):
        part = verdict(bad if isinstance(bad, str) else json.dumps(bad))
        assert part.verdict == "fail" and "not valid" in part.message, part.message
    assert "more than the" in verdict(" " * 70_000 + json.dumps(good)).message


def test_class_weights_are_judged_against_scikit_learn_s_balanced_weights(tmp_path):
    labels = lab4.unbalanced_labels(lab4.CLASSES, SECRET.rng("class-weights"))
    counts = np.bincount(labels, minlength=lab4.CLASSES)
    assert counts.min() >= 1 and counts.max() >= 50 * counts.min()  # every class there, very unequal
    expected = lab4.reference_class_weights(labels, lab4.CLASSES)
    assert np.allclose(expected * counts, len(labels) / lab4.CLASSES)
    out = tmp_path / "out"

    def verdict(pairs):
        part, came_back = lab4.class_weights_part("p", 2, labels, expected,
                                                  _write_text(out, "weights.json", json.dumps(pairs)))
        return part.verdict, part.points, came_back, part.message

    good = [[c, float(w)] for c, w in enumerate(expected)]
    assert verdict(good)[:3] == ("pass", 2, True)
    assert "inverted" in verdict([[c, 1 / w] for c, w in good])[3]
    assert "times as large" in verdict([[c, float(len(labels) / n)] for c, n in enumerate(counts)])[3]
    assert "every class from 0 to 46" in verdict(good[:-1])[3]
    assert "every class from 0 to 46" in verdict([*good, [47, 1.0]])[3]
    assert "not usable" in verdict([[str(c), w] for c, w in good])[3]
    assert "NaN is not a number" in verdict([[c, float("nan") if c == 3 else w] for c, w in good])[3]
    assert verdict([[c, w * (1.01 if c == 5 else 1)] for c, w in good])[3].startswith(
        "balanced_class_weights is wrong for 1 of 47 classes")
