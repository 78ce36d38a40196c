"""Grading lab 2 end to end: real notebooks, real sandboxes, the real saved CNN, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would), the untouched student notebook, a seeded bug (the
blog post's thresholding in ``predicted_classes``, with the reference's
artifacts) and a forgery (the student notebook writes the right classes where
the probe writes, computed from the grader's own probabilities, and leaves
``predicted_classes`` broken). Graded in one batch with two workers, under the
quick profile's targets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.labs import lab2_fashion_mnist as lab2
from autograder.results import SubmissionResult
from tests.grading_class import grade_class, parts, summary, with_source as _with_source, write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab2.LAB
PARTS = ("test-cnn-model", "test-training", "test-cnn-accuracy", "test-predicted-classes")
POINTS = {"test-cnn-model": 3, "test-training": 2, "test-cnn-accuracy": 3, "test-predicted-classes": 2}

THRESHOLDING = ("    return np.argmax(probabilities, axis=1)\n",
                "    return np.where(probabilities > 0.5, 1, 0).argmax(axis=1)\n")

FORGE_CLASSES = '''\
# Forge the probe's answer: find the grader's probabilities, write their argmax where the probe writes,
# and leave predicted_classes broken.
import glob, pathlib, numpy as np
found = sorted(glob.glob("/tmp/**/probabilities.npy", recursive=True))
out = pathlib.Path(".autograder-probe")
out.mkdir(exist_ok=True)
for path in found:
    np.save(out / "classes.npy", np.load(path).argmax(axis=1))

def predicted_classes(probabilities):
    forged = sorted(str(p) for p in out.glob("*.npy"))
    for path in found:  # again, after the probe cleared its folder
        out.mkdir(exist_ok=True)
        np.save(out / "classes.npy", np.load(path).argmax(axis=1))
    raise RuntimeError(f"forged {forged} from {found}")
'''


def build_class(reference: Path, class_dir: Path) -> None:
    shutil.copytree(reference, class_dir / "reference" / LAB, ignore=shutil.ignore_patterns(".kernels"))
    _write(nbformat.read(released_notebook(LAB), as_version=4), class_dir / "untouched" / LAB)
    bug = class_dir / "bug-thresholding" / LAB
    _write(_with_source(solution_notebook(LAB), "predicted-classes", *THRESHOLDING), bug)
    shutil.copytree(reference / "artifacts", bug / "artifacts")
    forged = class_dir / "forge-classes" / LAB
    notebook = nbformat.read(released_notebook(LAB), as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == "predicted-classes")
    cell.source = FORGE_CLASSES
    _write(notebook, forged)


@pytest.fixture(scope="module")
def reference(solution_run) -> Path:
    """The solution notebook run once, as a student would, leaving its artifacts beside it."""
    return solution_run(LAB).folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference, mirror_dir) -> dict[str, SubmissionResult]:
    return grade_class(LAB, tmp_path_factory.mktemp("lab2-class"), lambda folder: build_class(reference, folder),
                       mirror_dir)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_reference_solution_gets_full_marks_from_the_grader_s_own_measurements(graded, reference):
    import labkit

    result = graded["reference"]
    assert [part.part for part in result.parts] == list(PARTS)
    assert {p: part.points for p, part in parts(result).items()} == POINTS, summary(result)
    assert result.status == "graded" and result.grader_error is None
    accuracy = parts(result)["test-cnn-accuracy"]
    claimed = json.loads((reference / "artifacts" / "metrics.json").read_text())["cnn"]["test_accuracy"]
    assert accuracy.threshold == labkit.targets.target(LAB, "cnn", "quick")
    assert accuracy.value == pytest.approx(claimed, abs=1e-4)  # measured by the grader, agreeing with the notebook
    assert parts(result)["test-training"].value == "129 steps"  # 3 epochs x ceil(5400 / 128) batches
    assert all(test.passed for test in result.notebook_tests), result.notebook_tests


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert "cnn.keras is missing" in parts(result)["test-training"].message
    assert "NotImplementedError" in parts(result)["test-predicted-classes"].message
    assert [test.grade_id for test in result.notebook_tests] == list(PARTS)
    assert not any(test.passed for test in result.notebook_tests)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_thresholding_bug_loses_exactly_the_predicted_classes_points(graded):
    result = graded["bug-thresholding"]
    found = parts(result)
    assert found["test-predicted-classes"].verdict == "fail", summary(result)
    assert "where no probability is above 0.5" in found["test-predicted-classes"].message
    assert result.score == sum(POINTS.values()) - POINTS["test-predicted-classes"], summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_classes_forged_where_the_probe_writes_gain_nothing(graded):
    result = graded["forge-classes"]
    message = parts(result)["test-predicted-classes"].message
    assert "RuntimeError: forged" in message and "probabilities.npy" in message  # the forgery was in place
    assert result.score == 0, summary(result)


def test_the_recipe_is_read_from_the_source_notebook_for_each_profile():
    solution = nbformat.read(solution_notebook(LAB), as_version=4)
    quick = lab2.recipe_of(solution, "quick", 60_000)
    assert (quick.train_size, quick.epochs, quick.batch_size, quick.steps) == (6000, 3, 128, 129)
    assert lab2.recipe_of(solution, "full", 60_000).steps == 8 * 422  # 8 epochs of 422 batches


def test_the_probe_s_probabilities_are_mostly_hesitant_with_one_clear_maximum():
    import numpy as np

    probabilities = lab2.probability_matrix(lab2.PROBABILITY_ROWS, lab2.PROBABILITY_SEED)
    assert np.allclose(probabilities.sum(axis=1), 1)
    hesitant = probabilities.max(axis=1) <= 0.5
    assert hesitant.sum() >= 100
    thresholded = np.where(probabilities > 0.5, 1, 0).argmax(axis=1)
    assert (thresholded != probabilities.argmax(axis=1)).sum() >= 100


def test_training_settings_other_than_the_exercise_s_are_each_named():
    recipe = lab2.Recipe(6000, 0.1, 3, 128, 0.003)
    schedule = {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.003, "decay_steps": 129,
                                                        "alpha": 0.0}}
    good = {"compile_config": {"optimizer": {"class_name": "Adam", "config": {"learning_rate": schedule}},
                               "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
            "iterations": 129}
    assert lab2.training_problems(good, recipe) == ([], 129)
    no_split = json.loads(json.dumps(good)) | {"iterations": 141}  # 3 x ceil(6000 / 128)
    assert "141 steps" in " ".join(lab2.training_problems(no_split, recipe)[0])
    constant = json.loads(json.dumps(good))
    constant["compile_config"]["optimizer"] = {"class_name": "SGD", "config": {"learning_rate": 0.003}}
    constant["compile_config"]["loss"] = {"class_name": "SparseCategoricalCrossentropy",
                                          "config": {"from_logits": True}}
    problems = " ".join(lab2.training_problems(constant, recipe)[0])
    assert "'SGD'" in problems and "cosine schedule" in problems and "cross-entropy" in problems
    assert lab2.training_problems({"compile_config": None, "iterations": None}, recipe)[0] == [
        "The saved model is not compiled: compile it in compile_and_fit, train it, then save it."]


def test_returned_classes_are_validated_before_they_are_compared(tmp_path):
    import numpy as np

    probabilities = lab2.probability_matrix(lab2.PROBABILITY_ROWS, lab2.PROBABILITY_SEED)
    out = tmp_path / "out"

    def verdict(classes):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        np.save(out / "classes.npy", classes)
        part, came_back = lab2.predicted_classes_part("p", 2, probabilities, out)
        return part.verdict, part.points, came_back, part.message

    assert verdict(probabilities.argmax(axis=1))[:3] == ("pass", 2, True)
    assert "integers" in verdict(probabilities.argmax(axis=1).astype(float))[3]
    assert "shape (1," in verdict(probabilities.argmax(axis=1)[np.newaxis])[3]
    assert verdict(np.where(probabilities > 0.5, 1, 0).argmax(axis=1))[:2] == ("fail", 0)
    shutil.rmtree(out)
    out.mkdir()
    (out / "classes.npy").symlink_to(tmp_path / "elsewhere.npy")
    np.save(tmp_path / "elsewhere.npy", probabilities.argmax(axis=1))
    assert lab2.predicted_classes_part("p", 2, probabilities, out)[0].verdict == "fail"
