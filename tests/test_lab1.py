"""Lab 1 (MNIST): the solution trains to its targets; the student version hides the answers and fails its checks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.notebooks import cell, exercise_points, read, released_notebook, solution_notebook

LAB = "lab1-mnist"

MEANINGFUL_QUICK_TARGETS = {"fc": 0.85, "cnn": 0.90}
"""The least test accuracy a quick-profile target may ask for and still show that a model learnt."""


def test_every_exercise_heading_states_its_points_and_its_model_s_full_profile_target():
    """Points follow the graded cells' own; an accuracy's threshold is the full profile's, from labkit.targets."""
    import labkit

    exercises = exercise_points(read(solution_notebook(LAB)))  # each heading's points checked there
    headings = [heading for heading, _ in exercises]
    assert len(headings) == 3
    for heading, model in zip(headings, ("fc", "cnn")):
        full = labkit.targets.target(LAB, model, "full")
        assert f"test accuracy, at least {100 * full:.4g}% in the full profile" in heading, heading
    assert "accuracy" not in headings[2]
    assert sum(points for _, points in exercises) == 14


@pytest.mark.slow
def test_solution_runs_end_to_end_in_the_quick_profile_and_saves_loadable_models(solution_run):
    import keras

    import labkit

    run = solution_run(LAB)  # raises at the first failing cell
    folder = run.folder

    assert run.failed_graded_cells() == {}  # hidden tests included
    metrics = run.metrics()
    assert metrics["profile"] == "quick"
    images, labels = labkit.data.load("mnist", "test")
    inputs = (images.astype("float32") / 255.0)[..., np.newaxis]
    for name, floor in MEANINGFUL_QUICK_TARGETS.items():
        assert metrics[name]["test_accuracy"] >= metrics[name]["target"] >= floor
        model = keras.saving.load_model(folder / "artifacts" / f"{name}.keras", safe_mode=True)
        reloaded = np.mean(model.predict(inputs, batch_size=1000, verbose=0).argmax(axis=1) == labels)
        assert reloaded == pytest.approx(metrics[name]["test_accuracy"], abs=1e-4)
    assert len(run.comet_archives()) == 3  # one run per model trained


@pytest.mark.slow
def test_hidden_train_step_test_catches_a_step_the_visible_test_lets_through(mirror_dir):
    """A step twice too long lowers the loss (visible test passes) but is not SGD (hidden test fails)."""
    import keras
    import tensorflow as tf

    import labkit

    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    images, labels = labkit.data.load("mnist", "train")

    def run_test_cell(test_source: str, step_source: str) -> None:
        namespace = {"keras": keras, "tf": tf, "np": np, "labkit": labkit,
                     "x_train": (images[:32].astype("float32") / 255.0)[..., np.newaxis],
                     "y_train": labels[:32]}
        exec(step_source, namespace)
        exec(test_source, namespace)

    solution = cell(source, "train-step").source
    correct_loss = "loss = loss_fn(labels, probabilities)"
    assert correct_loss in solution
    twice_the_step = solution.replace(correct_loss, "loss = 2 * loss_fn(labels, probabilities)")
    full_test, visible_test = cell(source, "test-train-step").source, cell(released, "test-train-step").source

    run_test_cell(full_test, solution)
    run_test_cell(visible_test, twice_the_step)
    with pytest.raises(AssertionError, match="as far as the reference step"):
        run_test_cell(full_test, twice_the_step)
