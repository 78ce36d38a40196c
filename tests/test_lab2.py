"""Lab 2 (Fashion-MNIST): the solution trains to its target; the student version hides the answers and fails its checks."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from tests.notebooks import cell, exercise_points, read, released_notebook, solution_notebook

LAB = "lab2-fashion-mnist"

MEANINGFUL_QUICK_TARGET = 0.80
"""The least quick-profile test accuracy that still shows the CNN learnt (a constant guess gets 10%)."""


def test_every_count_and_size_comes_from_the_profile():
    """Epochs and the training-set size differ between profiles, and the target (from labkit.targets) with them."""
    source = "\n".join(c.source for c in read(solution_notebook(LAB)).cells)
    for name in ("train_size", "CNN_EPOCHS"):
        assert f"{name} = profile.choose(full=" in source, f"{name} is not chosen by the profile"
    assert 'CNN_TARGET = labkit.targets.target(LAB, "cnn")' in source, (
        "the target must come from labkit.targets, where the grader reads it")


def test_every_exercise_heading_states_its_points_and_the_full_profile_target_of_its_accuracy():
    """Points follow the graded cells' own; an accuracy's threshold is the full profile's, from labkit.targets."""
    import labkit

    exercises = exercise_points(read(solution_notebook(LAB)))
    assert len(exercises) == 5
    full = labkit.targets.target(LAB, "cnn", "full")
    for heading, _ in exercises:
        if "accuracy" in heading:
            assert f"at least {full:.0%} in the full profile" in heading, heading
    assert sum(points for _, points in exercises) == 13


def test_the_near_tie_comes_from_labkit_settings_and_the_exercise_states_it():
    """The notebook's check and the grader read NEAR_TIE from one place; the exercise's text says its value."""
    import labkit

    notebook = read(solution_notebook(LAB))
    near_tie = labkit.settings.value(LAB, "NEAR_TIE")
    assert 'NEAR_TIE = labkit.settings.value(LAB, "NEAR_TIE")' in cell(notebook, "test-most-confused").source
    assert f"within {100 * near_tie:g} percentage point" in cell(notebook, "most-confused-intro").source


def test_the_solution_s_normalized_confusion_matrix_is_scikit_learn_s_on_the_grader_s_cases():
    from autograder.graders import lab2_fashion_mnist as lab2
    from autograder.pipeline.grading_secret import GradingSecret

    namespace = {"np": np}
    exec(cell(read(solution_notebook(LAB)), "normalized-confusion").source, namespace)
    for secret in (b"a" * 32, b"b" * 32):
        for case in lab2.confusion_cases(GradingSecret(secret).rng("c")):
            got = namespace["normalized_confusion_matrix"](case.true, case.predicted, case.classes)
            assert got.dtype == np.float64 and np.array_equal(got, case.expected)  # bit for bit


@pytest.mark.parametrize("bug, message", [
    ("    counts[np.asarray(y_true), np.asarray(y_pred)] += 1\n", "must count every time"),  # repeated pairs once
    ("    return counts / images_per_class\n", "zeros, not NaN"),
    ("    return counts / counts.sum(axis=0, keepdims=True).clip(1)\n", "divided by how many there are"),
])
def test_the_visible_check_of_the_normalization_catches_common_mistakes(bug, message):
    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    solution = cell(source, "normalized-confusion").source
    correct = {"    counts[": "    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)\n",
               "    return": "    return np.divide(counts, images_per_class, out=np.zeros_like(counts), "
                            "where=images_per_class > 0)\n"}
    key = "    counts[" if bug.startswith("    counts[") else "    return"
    assert correct[key] in solution
    namespace = {"np": np}
    with np.errstate(all="ignore"):
        exec(solution.replace(correct[key], bug), namespace)
        with pytest.raises(AssertionError, match=message):
            exec(cell(released, "test-normalized-confusion").source, namespace)


def test_the_confusion_plot_draws_the_student_s_own_matrix():
    import labkit

    y_true, y_pred = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0])
    mine = np.array([[0.25, 0.75, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # what a student's function gave
    figure = labkit.plot.confusion_matrix(y_true, y_pred, ["a", "b", "c"], normalize="true", matrix=mine)
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), mine * 100)
    with pytest.raises(ValueError, match="one row and one column per class"):
        labkit.plot.confusion_matrix(y_true, y_pred, ["a", "b", "c"], normalize="true", matrix=mine[:2])
    with pytest.raises(ValueError, match="row of zeros"):
        labkit.plot.confusion_matrix(y_true, y_pred, ["a", "b", "c"], normalize="true", matrix=mine * np.nan)


def test_graded_cell_catches_the_seeds_thresholding_bug():
    """Thresholding softmax outputs at 0.5 must fail the students' own check, not only the grader's."""
    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    solution = cell(source, "predicted-classes").source
    correct = "return np.argmax(probabilities, axis=1)"
    assert correct in solution
    thresholding = solution.replace(correct, "return np.where(probabilities > 0.5, 1, 0).argmax(axis=1)")

    def run(notebook: nbformat.NotebookNode, exercise: str) -> None:
        namespace = {"np": np}
        exec(exercise, namespace)
        exec(cell(notebook, "test-predicted-classes").source, namespace)

    run(source, solution)  # hidden tests included
    with pytest.raises(AssertionError, match="even when no probability is above 0.5"):
        run(released, thresholding)


@pytest.mark.slow
def test_solution_runs_end_to_end_in_the_quick_profile_and_saves_a_loadable_model(solution_run):
    import keras

    import labkit

    run = solution_run(LAB)  # raises at the first failing cell
    folder = run.folder

    assert run.failed_graded_cells() == {}  # hidden tests included
    metrics = run.metrics()
    assert metrics["profile"] == "quick"
    assert metrics["cnn"]["test_accuracy"] >= metrics["cnn"]["target"] >= MEANINGFUL_QUICK_TARGET

    images, labels = labkit.data.load("fashion-mnist", "test")
    model = keras.saving.load_model(folder / "artifacts" / "cnn.keras", safe_mode=True)
    predicted = model.predict((images.astype("float32") / 255.0)[..., np.newaxis],
                              batch_size=1000, verbose=0).argmax(axis=1)
    assert np.mean(predicted == labels) == pytest.approx(metrics["cnn"]["test_accuracy"], abs=1e-4)
    # The answer to exercise 5 is recorded with the model, and is the saved model's top mistake.
    names = labkit.data.class_names("fashion-mnist")
    shares = confusion_matrix(labels, predicted, labels=np.arange(10), normalize="true")
    np.fill_diagonal(shares, 0)
    true, taken_for = (names.index(name) for name in metrics["most_confused"])
    assert shares[true, taken_for] == shares.max()
    assert len(run.comet_archives()) == 1  # one run, one model trained

