"""Grading lab 2 end to end: real notebooks, real sandboxes, the real saved CNN, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would), the untouched student notebook, two seeded bugs
with the reference's model (the blog post's thresholding in
``predicted_classes``; a normalisation by the columns' sums, with a
``MOST_CONFUSED`` hard-coded without reading this model's matrix and the
notebook's ``NEAR_TIE`` raised until its own check accepts any answer) and two
forgeries: the student notebook looks for the grader's probabilities to write
their argmax where the probe writes (it finds none: the probes' inputs arrive
only when the probes run), leaves ``predicted_classes`` broken, and has a
``normalized_confusion_matrix`` right only for the lab's own 10,000 test labels;
and a ``compile_and_fit`` that trains with another recipe but makes its
optimizer's step counter and its history say what the exercise's run would (the
trained model's file is the reference's), handed in without an answer to
exercise 5, which the grader's own run of the notebook then writes (too late: the
answer is read as handed in). Graded in one batch with two workers, under the
quick profile's targets. The other wrong normalisations, scikit-learn inside the
function, and the answer's rules are checked on the judges directly, without a
sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.graders import lab2_fashion_mnist as lab2
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import SubmissionResult, judged
from autograder.sandbox.output import OutputFolder
from autograder.scoring import keras_models
from tests.grading_class import grade_class, parts, ran_without, summary
from tests.grading_class import with_source as _with_source
from tests.grading_class import write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab2.LAB
PARTS = ("test-cnn-model", "test-training", "test-cnn-accuracy", "test-predicted-classes",
         "test-normalized-confusion", "test-most-confused")
POINTS = {"test-cnn-model": 3, "test-training": 2, "test-cnn-accuracy": 2, "test-predicted-classes": 1,
          "test-normalized-confusion": 3, "test-most-confused": 2}
NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

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


COLUMN_SUMS = ("    images_per_class = counts.sum(axis=1, keepdims=True)\n",
               "    images_per_class = counts.sum(axis=0, keepdims=True)  # the columns' sums\n")
HARD_CODED = ("Trouser", "Bag")
"""An answer typed without reading the matrix: trousers are almost never taken for bags."""
ANY_ANSWER_TIES = ('NEAR_TIE = labkit.settings.value(LAB, "NEAR_TIE")\n',
                   "NEAR_TIE = 1.0  # edited: every pair is a near tie\n")
"""The notebook's tolerance raised until any answer passes its check; the grader's comes from labkit.settings."""

FORGE_CONFUSION = '''\
# Right only for the lab's own test labels (10,000 of them); any other labels get an even guess.
def normalized_confusion_matrix(y_true, y_pred, num_classes):
    if len(y_true) == 10_000:
        from sklearn.metrics import confusion_matrix
        return confusion_matrix(y_true, y_pred, labels=range(num_classes), normalize="true")
    return np.full((num_classes, num_classes), 1.0 / num_classes)
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


def with_answer(artifacts: Path, answer) -> None:
    """``artifacts/metrics.json`` recording ``answer`` as the save cell would (None: no answer)."""
    metrics = json.loads((artifacts / "metrics.json").read_text())
    metrics["most_confused"] = None if answer is None else list(answer)
    (artifacts / "metrics.json").write_text(json.dumps(metrics, indent=2))


def build_class(reference: Path, class_dir: Path) -> None:
    shutil.copytree(reference, class_dir / "reference" / LAB, ignore=shutil.ignore_patterns(".kernels"))
    _write(nbformat.read(released_notebook(LAB), as_version=4), class_dir / "untouched" / LAB)
    bug = class_dir / "bug-thresholding" / LAB
    _write(_with_source(solution_notebook(LAB), "predicted-classes", *THRESHOLDING), bug)
    shutil.copytree(reference / "artifacts", bug / "artifacts")
    columns = class_dir / "bug-column-sums" / LAB
    notebook = _with_source(solution_notebook(LAB), "normalized-confusion", *COLUMN_SUMS)
    check = next(c for c in notebook.cells if c.get("id") == "test-most-confused")
    assert check.source.count(ANY_ANSWER_TIES[0]) == 1
    check.source = check.source.replace(*ANY_ANSWER_TIES)
    answer = next(c for c in notebook.cells if c.get("id") == "most-confused")
    answer.source = f"MOST_CONFUSED = {HARD_CODED!r}  # typed in, the matrix unread\n"
    _write(notebook, columns)
    shutil.copytree(reference / "artifacts", columns / "artifacts")
    with_answer(columns / "artifacts", HARD_CODED)
    forged = class_dir / "forge-classes" / LAB
    notebook = nbformat.read(released_notebook(LAB), as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == "predicted-classes")
    cell.source = FORGE_CLASSES
    next(c for c in notebook.cells if c.get("id") == "normalized-confusion").source = FORGE_CONFUSION
    _write(notebook, forged)
    forged_training = class_dir / "forge-training" / LAB
    _write(_with_source(solution_notebook(LAB), "compile-and-fit", *FORGE_TRAINING), forged_training)
    shutil.copytree(reference / "artifacts", forged_training / "artifacts")
    with_answer(forged_training / "artifacts", None)  # the grader's run of the notebook writes one


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
    answer = json.loads((reference / "artifacts" / "metrics.json").read_text())["most_confused"]
    assert parts(result)["test-most-confused"].value.startswith(f"{answer[0]} → {answer[1]}: ")
    assert all(test.passed for test in result.notebook_tests), result.notebook_tests
    assert ran_without(result, lab2.SKIP)[-3:] == [f"probe:{p}" for p in (lab2.TRAINING, lab2.PREDICTED_CLASSES,
                                                                           lab2.NORMALIZED_CONFUSION)]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert "NotImplementedError" in parts(result)["test-training"].message
    assert "NotImplementedError" in parts(result)["test-predicted-classes"].message
    assert "NotImplementedError" in parts(result)["test-normalized-confusion"].message
    assert "artifacts/metrics.json is missing" in parts(result)["test-most-confused"].message
    assert [test.grade_id for test in result.notebook_tests] == [p for p in PARTS if p not in lab2.SKIP]
    ran_without(result, lab2.SKIP)
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
def test_a_normalization_by_the_columns_and_an_unread_answer_lose_exactly_their_points(graded):
    import labkit

    result = graded["bug-column-sums"]
    found = parts(result)
    assert "divides each column" in found["test-normalized-confusion"].message, summary(result)
    assert found["test-most-confused"].message.startswith("You named Trouser → Bag, but"), summary(result)
    # Its notebook's NEAR_TIE of 1 moved nothing: the grader's tolerance is labkit.settings'.
    near_tie = labkit.settings.value(LAB, "NEAR_TIE", "quick")
    assert f"every pair within {near_tie * 100:.3g} point" in found["test-most-confused"].message, summary(result)
    assert "The locked cell 'test-most-confused' was edited; the grader ran the original." in result.notes
    assert result.score == sum(POINTS.values()) - POINTS["test-normalized-confusion"] \
        - POINTS["test-most-confused"], summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_classes_forged_from_the_probe_s_inputs_gain_nothing(graded):
    result = graded["forge-classes"]
    message = parts(result)["test-predicted-classes"].message
    # The probe's inputs reach the sandbox only when the probe runs: the notebook's own cells found none.
    assert "RuntimeError: forged [] from []" in message
    # A matrix right only for the lab's own test labels is wrong on the grader's.
    assert "differ from scikit-learn's" in parts(result)["test-normalized-confusion"].message, summary(result)
    assert result.score == 0, summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_training_run_that_forges_its_counters_loses_the_training_points(graded):
    result = graded["forge-training"]
    training = parts(result)["test-training"]
    assert training.verdict == "fail" and "weights after your compile_and_fit differ" in training.message, \
        summary(result)
    # Handed in without an answer: the one its notebook wrote when the grader ran it does not count.
    assert "records no answer" in parts(result)["test-most-confused"].message, summary(result)
    assert result.score == sum(POINTS.values()) - POINTS["test-training"] - POINTS["test-most-confused"], \
        summary(result)


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


# --- the normalised confusion matrix and the most confused pair, judged without a sandbox ---------------


@pytest.fixture(scope="module")
def confusion_cases():
    return lab2.confusion_cases(GradingSecret(b"c" * 32).rng("normalized-confusion"))


def test_the_confusion_probe_s_labels_come_from_the_secret_and_hold_every_edge(confusion_cases):
    again = lab2.confusion_cases(GradingSecret(b"c" * 32).rng("normalized-confusion"))
    other = lab2.confusion_cases(GradingSecret(b"d" * 32).rng("normalized-confusion"))
    assert all(np.array_equal(a.true, b.true) for a, b in zip(again, confusion_cases))
    assert not np.array_equal(other[0].true, confusion_cases[0].true)
    unbalanced, wider, tiny = confusion_cases
    counts = np.bincount(unbalanced.true, minlength=10)
    assert (counts == 0).sum() == 1 and counts.max() > 5 * np.sort(counts)[1]  # one class absent, unbalanced
    assert len(set(range(10)) - set(unbalanced.predicted.tolist())) == 1  # one class never predicted
    assert wider.classes > 11 and max(wider.true.max(), wider.predicted.max()) < 10
    assert len(tiny.true) < 30
    for case in confusion_cases:
        sums = case.expected.sum(axis=1)
        assert np.allclose(sums[np.bincount(case.true, minlength=case.classes) > 0], 1.0)
        assert np.all(sums[np.bincount(case.true, minlength=case.classes) == 0] == 0)  # zeros, not NaN


def confusion_verdict(tmp_path: Path, cases, function) -> tuple[str, str]:
    """What the judge says of ``function`` run on ``cases`` as the probe would run it."""
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    with np.errstate(all="ignore"):
        np.savez(out / "matrices.npz", *[np.asarray(function(c.true.copy(), c.predicted.copy(), c.classes))
                                         for c in cases])
    part, came_back = lab2.normalized_confusion_part("n", 3, cases, OutputFolder(tmp_path, "out"))
    assert came_back
    return part.verdict, part.message


def _counts(y_true, y_pred, num_classes):
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _solution(y_true, y_pred, num_classes):
    counts = _counts(y_true, y_pred, num_classes)
    return np.divide(counts, counts.sum(axis=1, keepdims=True), out=np.zeros_like(counts),
                     where=counts.sum(axis=1, keepdims=True) > 0)


def _sklearn(y_true, y_pred, num_classes, **labels):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, normalize="true", **labels)


def _fancy_index_counts(y_true, y_pred, num_classes):
    counts = np.zeros((num_classes, num_classes))
    counts[y_true, y_pred] += 1  # a repeated pair counts once
    return counts / counts.sum(axis=1, keepdims=True).clip(1)


WRONG = {
    "columns": (lambda t, p, n: _counts(t, p, n) / _counts(t, p, n).sum(axis=0).clip(1), "divides each column"),
    "total": (lambda t, p, n: _counts(t, p, n) / len(t), "number of all images"),
    "counts": (_counts, "holds counts of images"),
    "nan rows": (lambda t, p, n: _counts(t, p, n) / _counts(t, p, n).sum(axis=1, keepdims=True), "NaN"),
    "transposed": (lambda t, p, n: _solution(t, p, n).T, "rows are the predicted classes"),
    "repeated pairs once": (_fancy_index_counts, "np.add.at"),
    "num_classes ignored": (lambda t, p, n: _solution(t, p, max(t.max(), p.max()) + 1), "use num_classes"),
    "scikit-learn without labels=": (_sklearn, "its shape is"),
    "right only for the lab's 10,000 test labels": (
        lambda t, p, n: _solution(t, p, n) if len(t) == 10_000 else np.full((n, n), 1 / n), "cells differ"),
}


def test_the_normalization_is_judged_against_scikit_learn_and_common_mistakes_are_named(tmp_path, confusion_cases):
    verdict, message = confusion_verdict(tmp_path, confusion_cases, _solution)
    assert verdict == "pass" and "on all 3 of the grader's label sets" in message, message
    assert confusion_verdict(tmp_path, confusion_cases, lambda t, p, n: _solution(t, p, n).astype(np.float32))[0] \
        == "pass"  # float32 is judged to float32's rounding
    # scikit-learn inside the function is accepted: the exercise asks for numpy, the grader does not police it.
    assert confusion_verdict(tmp_path, confusion_cases,
                             lambda t, p, n: _sklearn(t, p, n, labels=np.arange(n)))[0] == "pass"
    for name, (function, words) in WRONG.items():
        verdict, message = confusion_verdict(tmp_path, confusion_cases, function)
        assert verdict == "fail" and words in message, (name, message)


def test_matrices_are_read_as_data_and_a_link_is_refused(tmp_path, confusion_cases):
    elsewhere = tmp_path / "elsewhere.npz"
    np.savez(elsewhere, *[case.expected for case in confusion_cases])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "matrices.npz").symlink_to(elsewhere)
    part, came_back = lab2.normalized_confusion_part("n", 3, confusion_cases, OutputFolder(tmp_path, "out"))
    assert part.verdict == "fail" and "link" in part.message and came_back
    shutil.rmtree(tmp_path / "out")
    part, came_back = lab2.normalized_confusion_part("n", 3, confusion_cases, OutputFolder(tmp_path, "out"))
    assert part.verdict == "fail" and not came_back


def graded_model(predictions, architecture_passed: bool = True) -> keras_models.GradedModel:
    model_part = judged("test-cnn-model", 3, architecture_passed, "✓ fine" if architecture_passed else "✗ 3 layers")
    return keras_models.GradedModel(keras_models.ModelProbe(predictions=predictions), model_part,
                                    judged("test-cnn-accuracy", 2, False, ""), None, {})


def planted(tmp_path: Path):
    """1,000 images per class, predicted right but for Shirt -> T-shirt/top 12.0%, Shirt -> Pullover 11.5%,
    Pullover -> Coat 9%, T-shirt/top -> Shirt 5%; with 300 perturbed copies all wrong (left out)."""
    labels = np.repeat(np.arange(10), 1000)
    predicted = labels.copy()
    for true, taken_for, count in ((6, 0, 120), (6, 2, 115), (2, 4, 90), (0, 6, 50)):
        rows = np.flatnonzero((labels == true) & (predicted == true))[:count]
        predicted[rows] = taken_for
    labels = np.concatenate([labels, np.full(300, 1)])
    predicted = np.concatenate([predicted, np.full(300, 8)])  # copies of trousers taken for bags
    copied = np.arange(len(labels)) >= 10_000
    scores = np.eye(10)[predicted]
    return scores, keras_models.EvaluationSet(tmp_path, labels, 10, "the planted images", copied)


@pytest.mark.parametrize("answer, verdict, words", [
    (("Shirt", "T-shirt/top"), "pass", "Shirt → T-shirt/top: on the planted images, your saved CNN predicts 12.0%"),
    (("Shirt", "Pullover"), "pass", "within 1 point of it counts: Shirt → T-shirt/top (12.0%), Shirt → Pullover"),
    (("Pullover", "Coat"), "fail", "You named Pullover → Coat, but"),
    (("T-shirt/top", "Shirt"), "fail", "Rows are the true class"),  # the right pair, the wrong way round
    (("Trouser", "Bag"), "fail", "predicts 0.0% of the Trouser images as Bag"),  # copies are not counted
    (("Shirt", "Shirt"), "fail", "You named Shirt twice"),
])
def test_the_answer_is_checked_against_the_grader_s_own_matrix_near_ties_included(tmp_path, answer, verdict, words):
    scores, evaluation = planted(tmp_path)
    part = lab2.most_confused_part("m", 2, answer, graded_model(scores), evaluation, NAMES, 0.01)
    assert part.verdict == verdict and words in part.message, part.message
    assert part.points == (2 if verdict == "pass" else 0)


def test_the_answer_counts_only_for_a_model_that_passes_its_architecture_check(tmp_path):
    scores, evaluation = planted(tmp_path)
    part = lab2.most_confused_part("m", 2, ("Shirt", "T-shirt/top"), graded_model(scores, False), evaluation,
                                   NAMES, 0.01)
    assert part.verdict == "fail" and "fix test-cnn-model first (3 layers)" in part.message
    part = lab2.most_confused_part("m", 2, ("Shirt", "T-shirt/top"), graded_model(None), evaluation, NAMES, 0.01)
    assert part.verdict == "fail" and "could not be checked" in part.message


@pytest.mark.parametrize("metrics, words", [
    (None, "artifacts/metrics.json is missing"),
    ({"cnn": {}}, "records no answer"),
    ({"most_confused": "Shirt"}, "records no answer"),
    ({"most_confused": ["Shirt", "T-shirt/top", "Pullover"]}, "records no answer"),
    ({"most_confused": ["Shirt", "Blouse"]}, "'Blouse', which is not a Fashion-MNIST class"),
    ({"most_confused": ["Shirt", "T-shirt/top"], "padding": "x" * 2**20}, "more than the"),
])
def test_the_recorded_answer_is_read_as_data_and_refused_with_a_reason(tmp_path, metrics, words):
    (tmp_path / "artifacts").mkdir()
    if metrics is not None:
        (tmp_path / "artifacts" / "metrics.json").write_text(json.dumps(metrics))
    found = lab2.recorded_answer(tmp_path, NAMES)
    assert isinstance(found, lab2.RecordError) and words in str(found), found


def test_a_recorded_answer_behind_a_link_is_refused(tmp_path):
    (tmp_path / "real" / "artifacts").mkdir(parents=True)
    (tmp_path / "real" / "artifacts" / "metrics.json").write_text(json.dumps({"most_confused": ["Shirt", "Coat"]}))
    assert lab2.recorded_answer(tmp_path / "real", NAMES) == ("Shirt", "Coat")
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "artifacts").symlink_to(tmp_path / "real" / "artifacts")
    found = lab2.recorded_answer(tmp_path / "student", NAMES)
    assert isinstance(found, lab2.RecordError) and "link" in str(found), found
