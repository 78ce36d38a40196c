"""Lab 2 (Fashion-MNIST): the solution trains to its target; the student version hides the answers and fails its checks."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from tests.notebooks import cell, read, released_notebook, solution_notebook

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
    recorded = [(pair["true"], pair["predicted"], pair["count"]) for pair in metrics["most_confused"]]
    assert recorded == [(pair.true, pair.predicted, pair.count) for pair in
                        labkit.plot.most_confused_pairs(labels, predicted, labkit.data.class_names("fashion-mnist"), k=6)]
    assert len(run.comet_archives()) == 1  # one run, one model trained

