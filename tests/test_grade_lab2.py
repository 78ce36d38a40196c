"""Grading lab 2 end to end: real notebooks, real sandboxes, the real saved CNN, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would), the untouched student notebook, a seeded bug (the
blog post's thresholding in ``predicted_classes``, with the reference's
artifacts) and two forgeries: the student notebook looks for the grader's
probabilities to write their argmax where the probe writes (it finds none: the
probes' inputs arrive only when the probes run), and leaves
``predicted_classes`` broken; and a ``compile_and_fit`` that trains
with another recipe but makes its optimizer's step counter and its history say
what the exercise's run would (the trained model's file is the reference's).
Graded in one batch with two workers, under the quick profile's targets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.graders import lab2_fashion_mnist as lab2
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import SubmissionResult
from autograder.sandbox.output import OutputFolder
from tests.grading_class import grade_class, parts, summary
from tests.grading_class import with_source as _with_source
from tests.grading_class import write_notebook as _write
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


FORGE_TRAINING = ("""    ### BEGIN SOLUTION
    model.compile(""", """    ### BEGIN SOLUTION
    # Forged: a plain SGD run whose counters and history claim the exercise's recipe.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(images, labels, batch_size=CNN_BATCH_SIZE, epochs=1, verbose=0)
    model.optimizer.iterations.assign(steps)
    history = keras.callbacks.History()
    history.params = {"epochs": CNN_EPOCHS, "steps": steps // CNN_EPOCHS}
    history.history = {"loss": [1.0, 0.5], "val_loss": [1.0, 0.6]}
    return history
    model.compile(""")


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
    forged_training = class_dir / "forge-training" / LAB
    _write(_with_source(solution_notebook(LAB), "compile-and-fit", *FORGE_TRAINING), forged_training)
    shutil.copytree(reference / "artifacts", forged_training / "artifacts")


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
    training = parts(result)["test-training"]
    assert training.value == training.threshold and training.value.endswith(" steps"), summary(result)
    assert all(test.passed for test in result.notebook_tests), result.notebook_tests


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert "NotImplementedError" in parts(result)["test-training"].message
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
def test_classes_forged_from_the_probe_s_inputs_gain_nothing(graded):
    result = graded["forge-classes"]
    message = parts(result)["test-predicted-classes"].message
    # The probe's inputs reach the sandbox only when the probe runs: the notebook's own cells found none.
    assert "RuntimeError: forged [] from []" in message
    assert result.score == 0, summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_training_run_that_forges_its_counters_loses_the_training_points(graded):
    result = graded["forge-training"]
    training = parts(result)["test-training"]
    assert training.verdict == "fail" and "weights after your compile_and_fit differ" in training.message, \
        summary(result)
    assert result.score == sum(POINTS.values()) - POINTS["test-training"], summary(result)


def test_the_probe_s_probabilities_are_mostly_hesitant_with_one_clear_maximum():
    import numpy as np

    probabilities = lab2.probability_matrix(lab2.PROBABILITY_ROWS, GradingSecret(b"k" * 32).rng("p"))
    assert np.allclose(probabilities.sum(axis=1), 1)
    hesitant = probabilities.max(axis=1) <= 0.5
    assert hesitant.sum() >= 100
    thresholded = np.where(probabilities > 0.5, 1, 0).argmax(axis=1)
    assert (thresholded != probabilities.argmax(axis=1)).sum() >= 100


@pytest.fixture(scope="module")
def reference_training():
    solution = nbformat.read(solution_notebook(LAB), as_version=4)
    return lab2.reference_training(solution, GradingSecret(b"t" * 32).rng("training"))


@pytest.mark.slow
def test_the_training_probe_s_inputs_come_from_the_secret_and_its_reference_is_repeatable(reference_training):
    import numpy as np

    solution = nbformat.read(solution_notebook(LAB), as_version=4)
    again = lab2.reference_training(solution, GradingSecret(b"t" * 32).rng("training"))
    other = lab2.reference_training(solution, GradingSecret(b"u" * 32).rng("training"))
    assert all(np.array_equal(a, b) for a, b in zip(again.after, reference_training.after))
    assert not np.array_equal(other.image, reference_training.image)
    assert reference_training.run["epochs"] == 3 and reference_training.run["validated"] is True  # quick profile
    assert reference_training.run["iterations"] == 3 * reference_training.run["steps"]


@pytest.mark.slow
def test_training_is_judged_by_the_weights_and_every_count_is_checked(tmp_path, reference_training):
    import keras
    import numpy as np

    from autograder.probes.compile_and_fit import trained

    found = reference_training
    out = tmp_path / "work" / "out"

    def verdict(after, run):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        np.savez(out / "after.npz", *after)
        (out / "run.json").write_text(json.dumps(run))
        part, came_back = lab2.training_part("t", 2, found, OutputFolder(tmp_path / "work", "out"))
        return part

    assert verdict(found.after, found.run).verdict == "pass"

    def sgd(model, images, labels, callbacks=()):
        model.compile(optimizer=keras.optimizers.SGD(0.003), loss="sparse_categorical_crossentropy")
        return model.fit(images, labels, batch_size=128, epochs=3, validation_split=0.1, verbose=0)

    after, run = trained(sgd, found.start, found.image, found.label, found.count)
    assert run == found.run  # the same counts: only the weights tell the recipes apart
    part = verdict(after, run)
    assert part.verdict == "fail" and "differ from the exercise's" in part.message
    part = verdict(found.after, found.run | {"steps": found.run["steps"] * 2, "iterations": "9"})
    assert "batches per epoch" in part.message and "optimizer steps" in part.message
    assert "no validation scores" in verdict(found.after, found.run | {"validated": False}).message
    assert "layers" in verdict(found.after[:1], found.run).message
    shutil.rmtree(out)
    (tmp_path / "work" / "elsewhere").mkdir()
    np.savez(tmp_path / "work" / "elsewhere" / "after.npz", *found.after)
    (tmp_path / "work" / "elsewhere" / "run.json").write_text(json.dumps(found.run))
    out.symlink_to(tmp_path / "work" / "elsewhere")  # answers planted elsewhere, the probe's folder a link
    part, came_back = lab2.training_part("t", 2, found, OutputFolder(tmp_path / "work", "out"))
    assert part.verdict == "fail" and "link" in part.message and came_back


def test_returned_classes_are_validated_before_they_are_compared(tmp_path):
    import numpy as np

    probabilities = lab2.probability_matrix(lab2.PROBABILITY_ROWS, GradingSecret(b"k" * 32).rng("p"))
    out = tmp_path / "out"

    def verdict(classes):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        np.save(out / "classes.npy", classes)
        part, came_back = lab2.predicted_classes_part("p", 2, probabilities, OutputFolder(tmp_path, "out"))
        return part.verdict, part.points, came_back, part.message

    assert verdict(probabilities.argmax(axis=1))[:3] == ("pass", 2, True)
    assert "integers" in verdict(probabilities.argmax(axis=1).astype(float))[3]
    assert "shape (1," in verdict(probabilities.argmax(axis=1)[np.newaxis])[3]
    assert verdict(np.where(probabilities > 0.5, 1, 0).argmax(axis=1))[:2] == ("fail", 0)
    shutil.rmtree(out)
    out.mkdir()
    (out / "classes.npy").symlink_to(tmp_path / "elsewhere.npy")
    np.save(tmp_path / "elsewhere.npy", probabilities.argmax(axis=1))
    assert lab2.predicted_classes_part("p", 2, probabilities, OutputFolder(tmp_path, "out"))[0].verdict == "fail"
